/// The stamp of a write: its HLC time, ties broken by origin id (byte order).
public struct Stamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let hlc: HLC
    public let origin: String

    public init(hlc: HLC, origin: String) {
        self.hlc = hlc
        self.origin = origin
    }

    public static func < (a: Stamp, b: Stamp) -> Bool {
        a.hlc != b.hlc ? a.hlc < b.hlc : a.origin.utf8.lexicographicallyPrecedes(b.origin.utf8)
    }

    /// `1732861234567.3@AU`.
    public var description: String { "\(hlc)@\(origin)" }
}

/// Names one log entry: origin and sequence number, written `AU:17`.
public struct EntryID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let origin: String
    public let seq: UInt64

    public init(origin: String, seq: UInt64) {
        self.origin = origin
        self.seq = seq
    }

    /// Parses `AU:17`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 2, Identifier.isValidMember(String(parts[0])), let seq = UInt64(parts[1]), seq > 0 else { return nil }
        self.init(origin: String(parts[0]), seq: seq)
    }

    public var description: String { "\(origin):\(seq)" }

    public static func < (a: EntryID, b: EntryID) -> Bool {
        a.origin != b.origin ? a.origin < b.origin : a.seq < b.seq
    }
}

/// What a row change does to its record.
public enum ChangeOp: String, Sendable {
    case create, update, delete, adjust
}

/// A new value for one field, with the field's version at the origin.
public struct FieldChange: Hashable, Sendable {
    public var name: String
    /// The new value; for `adjust`, the delta.
    public var value: FieldValue
    /// The highest stamp among the writes to this field that the origin had applied.
    public var replaced: Stamp?

    public init(name: String, value: FieldValue, replaced: Stamp? = nil) {
        self.name = name
        self.value = value
        self.replaced = replaced
    }
}

/// A change to one record.
public struct RowChange: Hashable, Sendable {
    public var table: String
    public var key: String
    public var op: ChangeOp
    public var fields: [FieldChange]
    /// For `delete`: the highest field stamp of the record the origin held.
    public var replaced: Stamp?

    public init(table: String, key: String, op: ChangeOp, fields: [FieldChange] = [], replaced: Stamp? = nil) {
        self.table = table
        self.key = key
        self.op = op
        self.fields = fields
        self.replaced = replaced
    }

    /// `facilities AU-MTWELD`.
    public var recordName: String { "\(table) \(key)" }
}

/// One change set: one local transaction of one member, and one log entry.
public struct ChangeSet: Hashable, Sendable {
    public static let formatVersion: UInt32 = 1
    /// The format of an entry that rotates its origin's signing key
    /// (``nextSigningKey``); a node that knows only format 1 holds it.
    public static let keyRotationFormatVersion: UInt32 = 2
    /// The format of a governance entry (``governance``, PROTOCOL §3.5); a node
    /// that knows only formats 1 and 2 holds it.
    public static let governanceFormatVersion: UInt32 = 3

    public var formatVersion: UInt32
    public var origin: String
    public var seq: UInt64
    public var hlc: HLC
    /// SHA-256 of the body of the origin's previous entry; empty for seq 1.
    public var prevHash: [UInt8]
    public var schemaVersion: UInt32
    /// The origin's version vector when it wrote this entry (other origins only).
    public var deps: [String: UInt64]
    public var changes: [RowChange]
    public var note: String
    /// The raw 32-byte Ed25519 public key that signs the origin's entries after
    /// this one (PROTOCOL §3.4); nil for an entry that rotates nothing.
    public var nextSigningKey: [UInt8]?
    /// The governance action of a format-3 entry (PROTOCOL §3.5); nil otherwise.
    public var governance: GovernanceAction?

    public init(origin: String, seq: UInt64, hlc: HLC, prevHash: [UInt8], deps: [String: UInt64] = [:],
                changes: [RowChange], note: String = "",
                formatVersion: UInt32 = ChangeSet.formatVersion, schemaVersion: UInt32 = Schema.version,
                nextSigningKey: [UInt8]? = nil, governance: GovernanceAction? = nil) {
        self.nextSigningKey = nextSigningKey
        self.governance = governance
        self.formatVersion = formatVersion
        self.origin = origin
        self.seq = seq
        self.hlc = hlc
        self.prevHash = prevHash
        self.schemaVersion = schemaVersion
        self.deps = deps
        self.changes = changes
        self.note = note
    }

    public var id: EntryID { EntryID(origin: origin, seq: seq) }
    public var stamp: Stamp { Stamp(hlc: hlc, origin: origin) }

    /// Whether entry `other` is in this entry's causal past: an earlier entry of
    /// the same origin, or one covered by its dependencies.
    public func hasInCausalPast(_ other: EntryID) -> Bool {
        if other.origin == origin { return other.seq < seq }
        return (deps[other.origin] ?? 0) >= other.seq
    }
}
