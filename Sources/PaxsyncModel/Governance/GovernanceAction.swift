/// Names one entry exactly: origin, sequence number and the SHA-256 of its body.
public struct EntryRef: Hashable, Sendable, CustomStringConvertible {
    public var origin: String
    public var seq: UInt64
    public var hash: [UInt8]

    public init(origin: String, seq: UInt64, hash: [UInt8]) {
        self.origin = origin
        self.seq = seq
        self.hash = hash
    }

    public var id: EntryID { EntryID(origin: origin, seq: seq) }

    /// `AU:17 (3f9a…)`.
    public var description: String { "\(origin):\(seq) (\(hash.hex.prefix(12))…)" }
}

/// A member as a governance decision admits it (PROTOCOL §3.5): what the roster lists.
public struct GovernedMember: Hashable, Sendable {
    public var id: String
    public var country: String
    public var name: String
    /// Raw 32-byte Ed25519 public key.
    public var signingKey: [UInt8]
    public var address: String
    /// SHA-256 of the DER SubjectPublicKeyInfo of its TLS certificate; nil when unpinned.
    public var tlsPin: [UInt8]?

    public init(id: String, country: String, name: String, signingKey: [UInt8], address: String, tlsPin: [UInt8]?) {
        self.id = id
        self.country = country
        self.name = name
        self.signingKey = signingKey
        self.address = address
        self.tlsPin = tlsPin
    }
}

/// A quorum rule: a decision takes effect once approvals × denominator >
/// active members × numerator (default 1/2: more than half).
public struct QuorumRule: Hashable, Sendable, Codable, CustomStringConvertible {
    public var numerator: UInt32
    public var denominator: UInt32

    public init(numerator: UInt32, denominator: UInt32) {
        self.numerator = numerator
        self.denominator = denominator
    }

    public static let majority = QuorumRule(numerator: 1, denominator: 2)

    public var isValid: Bool { numerator >= 1 && numerator < denominator && denominator <= 100 }

    /// Whether `approvals` of `active` members are a quorum.
    public func isMet(approvals: Int, active: Int) -> Bool {
        UInt64(approvals) * UInt64(denominator) > UInt64(active) * UInt64(numerator)
    }

    /// The fewest approvals of `active` members that are a quorum.
    public func needed(active: Int) -> Int {
        Int(UInt64(active) * UInt64(numerator) / UInt64(denominator)) + 1
    }

    /// `more than 1/2 of the active members`.
    public var description: String { "more than \(numerator)/\(denominator) of the active members" }
}

/// What a proposal asks the members to decide (PROTOCOL §3.5).
public enum GovernanceDecision: Hashable, Sendable, CustomStringConvertible {
    case admit(GovernedMember)
    case suspend(String)
    case reinstate(String)
    /// Removes the member; its entries with seq > `cutSeq` stop counting.
    case remove(member: String, cutSeq: UInt64)
    case quorum(QuorumRule)
    /// Voids one entry: its changes never count, its origin's chain continues past it.
    case void(EntryRef)
    /// Revokes `member`'s signing key from `fromSeq` on (a lost or stolen key):
    /// its entries from there must be signed with `newKey`; others are superseded.
    case revoke(member: String, fromSeq: UInt64, newKey: [UInt8])
    /// Resolves an equivocation: the named entry stands at its origin and seq;
    /// any other entry there, and every entry chained after it, is superseded.
    case resolve(EntryRef)

    /// `admit`, `suspend`, `reinstate`, `remove`, `quorum`, `void`.
    public var kind: String {
        switch self {
        case .admit: "admit"
        case .suspend: "suspend"
        case .reinstate: "reinstate"
        case .remove: "remove"
        case .quorum: "quorum"
        case .void: "void"
        case .revoke: "revoke"
        case .resolve: "resolve"
        }
    }

    /// The member the decision is about, if any.
    public var member: String? {
        switch self {
        case .admit(let m): m.id
        case .suspend(let id), .reinstate(let id), .remove(let id, _): id
        case .quorum: nil
        case .void(let ref), .resolve(let ref): ref.origin
        case .revoke(let id, _, _): id
        }
    }

    /// The member whose own entries the decision supersedes or revokes: it takes
    /// no part in deciding it (its proposal is refused, its approval not counted).
    public var excludedMember: String? {
        switch self {
        case .revoke(let id, _, _): id
        case .resolve(let ref): ref.origin
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .admit(let m): "admit \(m.id) (\(m.name), \(m.country)) at \(m.address)"
        case .suspend(let id): "suspend \(id)"
        case .reinstate(let id): "reinstate \(id)"
        case .remove(let id, let cut): "remove \(id), its entries after \(id):\(cut) cut"
        case .quorum(let rule): "quorum: \(rule)"
        case .void(let ref): "void \(ref)"
        case .revoke(let id, let from, let key): "revoke \(id)'s signing key from \(id):\(from), new key \(key.hex.prefix(16))…"
        case .resolve(let ref): "resolve the equivocation at \(ref.id): \(ref) stands"
        }
    }
}

/// A governance action, carried by a format-3 change set in its author's own log.
public enum GovernanceAction: Hashable, Sendable {
    /// A decision put to the members; it counts as its author's approval.
    case proposal(GovernanceDecision, reason: String)
    /// Approves the proposal entry named.
    case approval(EntryRef)
    /// The author's TLS pin from this entry on: it rotated its TLS key (no quorum).
    case tlsPin([UInt8])

    /// Checks the action's shape, independent of any state.
    public func checkStructure(subject: String) throws(PaxsyncError) {
        func fail(_ message: String) -> PaxsyncError { PaxsyncError(.malformedEntry, message, subject: subject) }
        func checkRef(_ ref: EntryRef, _ what: String) throws(PaxsyncError) {
            guard Identifier.isValidMember(ref.origin), ref.seq >= 1, ref.hash.count == 32 else {
                throw fail("\(what) must name an entry by member id, seq ≥ 1 and a 32-byte hash")
            }
        }
        switch self {
        case .tlsPin(let pin):
            guard pin.count == 32 else { throw fail("a TLS pin is 32 bytes (SHA-256), got \(pin.count)") }
        case .approval(let ref):
            try checkRef(ref, "an approval")
        case .proposal(let decision, _):
            switch decision {
            case .admit(let m):
                guard Identifier.isValidMember(m.id) else { throw fail("admit: \"\(m.id)\" is not a member id") }
                guard m.country.count == 2, m.country.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                    throw fail("admit \(m.id): country \"\(m.country)\" is not an ISO 3166-1 alpha-2 code")
                }
                guard !m.name.isEmpty, m.name.count <= 200 else { throw fail("admit \(m.id): the name must have 1 to 200 characters") }
                guard m.signingKey.count == 32 else { throw fail("admit \(m.id): the signing key must be 32 bytes (Ed25519)") }
                guard !m.address.isEmpty, m.address.count <= 255 else { throw fail("admit \(m.id): the address must have 1 to 255 characters") }
                if let pin = m.tlsPin, pin.count != 32 { throw fail("admit \(m.id): the TLS pin must be 32 bytes (SHA-256)") }
            case .suspend(let id), .reinstate(let id), .remove(let id, _):
                guard Identifier.isValidMember(id) else { throw fail("\(decision.kind): \"\(id)\" is not a member id") }
            case .quorum(let rule):
                guard rule.isValid else {
                    throw fail("quorum \(rule.numerator)/\(rule.denominator): the rule needs 1 ≤ numerator < denominator ≤ 100")
                }
            case .void(let ref):
                try checkRef(ref, "a void")
            case .resolve(let ref):
                try checkRef(ref, "a resolution")
            case .revoke(let id, let from, let key):
                guard Identifier.isValidMember(id) else { throw fail("revoke: \"\(id)\" is not a member id") }
                guard from >= 1 else { throw fail("revoke \(id): from_seq must be at least 1") }
                guard key.count == 32 else { throw fail("revoke \(id): the new key must be 32 bytes (Ed25519), got \(key.count)") }
            }
        }
    }
}
