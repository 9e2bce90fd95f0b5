/// Per origin, the highest contiguous sequence number a node holds (PROTOCOL
/// §13.2): what hellos and acks carry, what a session tracks of its peer, and
/// what decides which entries a peer lacks. An origin at 0 is simply absent.
public struct VersionVector: Sendable, Hashable, Codable, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// The non-zero sequence numbers, by origin.
    public private(set) var seqs: [String: UInt64]

    public init(_ seqs: [String: UInt64] = [:]) {
        self.seqs = seqs.filter { $0.value > 0 }
    }

    public init(dictionaryLiteral elements: (String, UInt64)...) {
        self.init(Dictionary(elements, uniquingKeysWith: max))
    }

    public init(from decoder: any Decoder) throws {
        self.init(try [String: UInt64](from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try seqs.encode(to: encoder)
    }

    /// The highest sequence held of `origin`, 0 when none.
    public subscript(origin: String) -> UInt64 { seqs[origin] ?? 0 }

    /// Whether the entry `id` is held (its origin's sequence reaches it).
    public func contains(_ id: EntryID) -> Bool { self[id.origin] >= id.seq }

    /// Raises `origin` to `seq` if that is higher; returns whether it changed.
    @discardableResult
    public mutating func advance(_ origin: String, to seq: UInt64) -> Bool {
        guard seq > self[origin] else { return false }
        seqs[origin] = seq
        return true
    }

    /// Raises every origin to the higher of the two vectors (pointwise maximum).
    public mutating func formUnion(_ other: VersionVector) {
        for (origin, seq) in other.seqs { advance(origin, to: seq) }
    }

    /// Whether `other` holds some entry this vector does not.
    public func lacksAny(of other: VersionVector) -> Bool {
        other.seqs.contains { $0.value > self[$0.key] }
    }

    /// How many entries this vector holds that `other` does not.
    public func entries(beyond other: VersionVector) -> UInt64 {
        seqs.reduce(0) { $0 + ($1.value > other[$1.key] ? $1.value - other[$1.key] : 0) }
    }

    /// The origins held.
    public var origins: Dictionary<String, UInt64>.Keys { seqs.keys }

    /// The origins, sorted, with their sequence numbers: the wire order.
    public var sorted: [(origin: String, seq: UInt64)] {
        seqs.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public var isEmpty: Bool { seqs.isEmpty }
    /// The number of origins held.
    public var count: Int { seqs.count }

    public var description: String { sorted.map { "\($0.origin):\($0.seq)" }.joined(separator: ",") }
}
