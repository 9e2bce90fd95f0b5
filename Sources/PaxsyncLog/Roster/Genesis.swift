import Crypto
import Foundation
import PaxsyncModel

/// The founding document of a coalition and its founders' signatures
/// (PROTOCOL.md §2.2): the founders with their keys and addresses, and the
/// quorum rule.
///
/// The document travels as the exact bytes `coalition init` serialized
/// (``body``, a `Genesis` protobuf message), which every founder signs and
/// nobody re-encodes; SHA-256 of those bytes is the **coalition id**, which
/// every node pins in `paxsync.conf` and states in its hello.
///
/// Stored as JSON (`genesis.json`): `format`, `coalitionId` (checked),
/// `body` (base64), `signatures` (member id → base64 signature), and an
/// informational `document` that readers ignore.
public struct Genesis: Sendable, Equatable {
    public static let fileFormat = 1
    /// What a founder signs: these bytes, a zero byte, then ``body``.
    public static let signingContext: [UInt8] = Array("paxsync-genesis-v1".utf8) + [0]
    public static let defaultQuorum = QuorumRule.majority

    /// The quorum rule (PROTOCOL §3.5): a decision takes effect once approvals ×
    /// denominator > active members × numerator.
    public typealias Quorum = QuorumRule

    /// The serialized `Genesis` message, exactly as written.
    public let body: [UInt8]
    /// The founders, as a roster.
    public let roster: Roster
    public let quorum: Quorum
    public let createdAtMilliseconds: UInt64
    /// Founders' signatures over ``signingContext`` + ``body``, by member id.
    public private(set) var signatures: [String: [UInt8]]

    /// SHA-256 of ``body``.
    public var coalitionIDBytes: [UInt8] { Array(SHA256.hash(data: body)) }
    /// SHA-256 of ``body``, lowercase hex: what `coalition_id` in paxsync.conf holds.
    public var coalitionID: String { coalitionIDBytes.hex }

    /// Founders who have not signed yet, in the document's order.
    public var unsigned: [String] { roster.members.map(\.id).filter { signatures[$0] == nil } }
    public var isComplete: Bool { unsigned.isEmpty }

    /// A new, unsigned document naming `roster`'s members as founders.
    public static func create(roster: Roster, createdAtMilliseconds: UInt64, quorum: Quorum = defaultQuorum,
                              source: String) throws(PaxsyncError) -> Genesis {
        try roster.validate(source: source)
        try validate(quorum, source: source)
        var w = Paxsync_V1_Genesis()
        w.formatVersion = 1
        w.coalition = roster.coalition
        w.createdAtMs = createdAtMilliseconds
        w.members = roster.members.map(\.wire)
        w.quorumNumerator = quorum.numerator
        w.quorumDenominator = quorum.denominator
        return try Genesis(body: Array(try! w.serializedBytes() as [UInt8]), signatures: [:], source: source)
    }

    /// Decodes and checks `body`, then each signature (a founder's, and valid).
    public init(body: [UInt8], signatures: [String: [UInt8]], source: String) throws(PaxsyncError) {
        let w: Paxsync_V1_Genesis
        do { w = try Paxsync_V1_Genesis(serializedBytes: body) } catch {
            throw PaxsyncError(.badInput, "the genesis document does not decode", subject: source, underlying: error)
        }
        guard w.formatVersion == 1 else {
            throw PaxsyncError(.badInput, "genesis format \(w.formatVersion) is not supported (expected 1)", subject: source)
        }
        var members: [RosterMember] = []
        for m in w.members {
            guard m.tlsPin.isEmpty || m.tlsPin.count == 32 else {
                throw PaxsyncError(.badInput, "the TLS pin of \(m.id) is \(m.tlsPin.count) bytes; a pin is 32", subject: source)
            }
            members.append(RosterMember(id: m.id, country: m.country, name: m.name, signingKey: m.signingKey.base64EncodedString(),
                                        address: m.address, tlsPin: m.tlsPin.isEmpty ? nil : Array(m.tlsPin).hex))
        }
        let roster = Roster(coalition: w.coalition, members: members)
        try roster.validate(source: "\(source) (genesis)")
        let quorum = Quorum(numerator: w.quorumNumerator, denominator: w.quorumDenominator)
        try Self.validate(quorum, source: source)
        self.body = body
        self.roster = roster
        self.quorum = quorum
        self.createdAtMilliseconds = w.createdAtMs
        self.signatures = [:]
        for (member, signature) in signatures.sorted(by: { $0.key < $1.key }) {
            try add(signature: signature, by: member, source: source)
        }
    }

    static func validate(_ quorum: Quorum, source: String) throws(PaxsyncError) {
        guard quorum.numerator >= 1, quorum.numerator < quorum.denominator, quorum.denominator <= 100 else {
            throw PaxsyncError(.badInput, "the quorum \(quorum.numerator)/\(quorum.denominator) is not a fraction between 0 and 1 "
                               + "(numerator at least 1, denominator at most 100); more than half is 1/2", subject: source)
        }
    }

    /// Adds a founder's signature after checking it.
    public mutating func add(signature: [UInt8], by member: String, source: String) throws(PaxsyncError) {
        guard let founder = roster.member(member) else {
            throw PaxsyncError(.badInput, "\(member) signed the genesis but is not one of its founders", subject: source)
        }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: founder.publicKeyBytes),
              signature.count == 64, key.isValidSignature(signature, for: Self.signingContext + body) else {
            throw PaxsyncError(.badInput, "the signature of \(member) does not verify against its key in the genesis", subject: source)
        }
        signatures[member] = signature
    }

    /// Signs as `member`, whose key must be the one the document lists.
    public mutating func sign(as member: String, key: NodeSigningKey, source: String) throws(PaxsyncError) {
        guard let founder = roster.member(member) else {
            throw PaxsyncError(.usage, "\(member) is not a founder in this genesis", subject: source)
        }
        guard founder.signingKey == key.publicKeyBase64 else {
            throw PaxsyncError(.badInput, "this node's key is not the key the genesis lists for \(member)", subject: source)
        }
        try add(signature: Array(try! key.key.signature(for: Self.signingContext + body)), by: member, source: source)
    }

    /// Throws unless every founder has signed.
    public func requireComplete(source: String) throws(PaxsyncError) {
        guard isComplete else {
            throw PaxsyncError(.badInput, "the genesis is not signed by every founder: \(unsigned.joined(separator: ", ")) "
                               + "must still run `paxsync coalition sign`", subject: source)
        }
    }

    // MARK: - The file

    struct File: Codable {
        var format: Int
        var coalitionId: String?
        var body: String
        var signatures: [String: String]
        var document: Document?
    }

    /// For people reading the file; ignored when it is read.
    struct Document: Codable {
        var coalition: String
        var createdAt: String
        var quorum: String
        var founders: [RosterMember]
    }

    /// `genesis.json`: sorted keys, two-space indentation.
    public func encoded() -> Data {
        let file = File(format: Self.fileFormat, coalitionId: coalitionID, body: Data(body).base64EncodedString(),
                        signatures: signatures.mapValues { Data($0).base64EncodedString() },
                        document: Document(coalition: roster.coalition, createdAt: CivilTime.iso8601(milliseconds: createdAtMilliseconds),
                                           quorum: quorum.description, founders: roster.members))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try! encoder.encode(file) + Data("\n".utf8)
    }

    /// Reads `genesis.json`, checking the body, the coalition id it states and each signature.
    public static func decode(_ data: Data, source: String) throws(PaxsyncError) -> Genesis {
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw PaxsyncError(.badInput, "not a genesis file", subject: source, underlying: error)
        }
        guard file.format == fileFormat else {
            throw PaxsyncError(.badInput, "genesis file format \(file.format) is not supported (expected \(fileFormat))", subject: source)
        }
        guard let body = Data(base64Encoded: file.body) else {
            throw PaxsyncError(.badInput, "body is not base64", subject: source)
        }
        var signatures: [String: [UInt8]] = [:]
        for (member, text) in file.signatures {
            guard let signature = Data(base64Encoded: text) else {
                throw PaxsyncError(.badInput, "the signature of \(member) is not base64", subject: source)
            }
            signatures[member] = Array(signature)
        }
        let genesis = try Genesis(body: Array(body), signatures: signatures, source: source)
        if let stated = file.coalitionId, stated != genesis.coalitionID {
            throw PaxsyncError(.badInput, "coalitionId \(stated) is not the SHA-256 of the body (\(genesis.coalitionID))", subject: source)
        }
        return genesis
    }
}

extension RosterMember {
    /// As a `Member` message (genesis, bundle header).
    var wire: Paxsync_V1_Member { governed.toWire() }
}
