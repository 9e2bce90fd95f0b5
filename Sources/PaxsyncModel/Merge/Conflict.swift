/// A detected concurrent write that lost, kept for operators until a later write settles it.
public struct Conflict: Sendable, Hashable, Codable {
    public struct Side: Sendable, Hashable, Codable {
        /// The value, or nil when the side is a deletion.
        public let value: String?
        public let isNull: Bool
        public let deleted: Bool
        public let origin: String
        public let hlc: UInt64
        public let entry: String

        public init(value: String?, isNull: Bool, deleted: Bool, origin: String, hlc: UInt64, entry: String) {
            self.value = value
            self.isNull = isNull
            self.deleted = deleted
            self.origin = origin
            self.hlc = hlc
            self.entry = entry
        }
    }
    public let table: String
    public let key: String
    public let field: String
    public let winner: Side
    public let loser: Side
    /// The rule that chose the winner.
    public let decision: Decision

    public init(table: String, key: String, field: String, winner: Side, loser: Side, decision: Decision) {
        self.table = table
        self.key = key
        self.field = field
        self.winner = winner
        self.loser = loser
        self.decision = decision
    }
}
