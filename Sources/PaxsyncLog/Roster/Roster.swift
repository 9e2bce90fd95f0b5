import Crypto
import Foundation
import PaxsyncModel

/// One coalition member as listed in the roster.
public struct RosterMember: Codable, Sendable, Hashable {
    public var id: String
    /// ISO 3166-1 alpha-2 country of the member.
    public var country: String
    /// Display name ("Australia").
    public var name: String
    /// The member's raw 32-byte Ed25519 public key in standard base64 with
    /// padding (RFC 4648 §4), canonical: 44 characters.
    public var signingKey: String
    /// `host:port` where the member's node listens for peers.
    public var address: String
    /// The pin of the member's TLS key: SHA-256 of its certificate's DER
    /// SubjectPublicKeyInfo, 64 lowercase hex digits (`paxsync tls pin`). When
    /// set, a peer claiming to be this member is accepted only with a
    /// certificate for that key, whoever issued it (a self-signed one is
    /// enough); when absent, only with a certificate from the coalition CA.
    public var tlsPin: String?
    /// The pin this member's TLS key had before it rotated it by a logged entry
    /// (PROTOCOL §3.5), accepted too until `tlsPinPreviousUntil` (milliseconds
    /// since the epoch). Set from the log, not written by hand.
    public var tlsPinPrevious: String?
    public var tlsPinPreviousUntil: UInt64?

    public init(id: String, country: String, name: String, signingKey: String, address: String, tlsPin: String? = nil) {
        self.id = id
        self.country = country
        self.name = name
        self.signingKey = signingKey
        self.address = address
        self.tlsPin = tlsPin
    }

    /// Whether `text` is a TLS pin as the roster writes it: 64 lowercase hex digits.
    public static func isValidTLSPin(_ text: String) -> Bool { text.isLowercaseSHA256Hex }

    /// The raw public key bytes (validated when the roster is loaded).
    public var publicKeyBytes: [UInt8] { Array(Data(base64Encoded: signingKey) ?? Data()) }

    /// SHA-256 of the raw public key, lowercase hex: what an auditor compares
    /// out of band (`log verify --bundle … --trust-fingerprint AU:HEX`).
    public var keyFingerprint: String { Array(SHA256.hash(data: publicKeyBytes)).hex }
}

/// The coalition's member list: who may write, with which key.
///
/// Stored as `roster.json` in a node's data directory. Every entry's origin
/// must be a member and its signature must verify against that member's key.
public struct Roster: Codable, Sendable, Hashable {
    public static let currentFormat = 1

    public var format: Int
    public var coalition: String
    public var members: [RosterMember]

    public init(coalition: String, members: [RosterMember]) {
        self.format = Self.currentFormat
        self.coalition = coalition
        self.members = members
    }

    public var memberIDs: Set<String> { Set(members.map(\.id)) }

    public func member(_ id: String) -> RosterMember? { members.first { $0.id == id } }

    /// Decodes and validates roster JSON. Errors name the file and the member.
    public static func decode(_ data: Data, source: String) throws(PaxsyncError) -> Roster {
        let roster: Roster
        do { roster = try JSONDecoder().decode(Roster.self, from: data) } catch {
            throw PaxsyncError(.badInput, "not a valid roster file", subject: source, underlying: error)
        }
        try roster.validate(source: source)
        return roster
    }

    public func validate(source: String) throws(PaxsyncError) {
        guard format == Self.currentFormat else {
            throw PaxsyncError(.badInput, "roster format \(format) is not supported (expected \(Self.currentFormat))", subject: source)
        }
        guard !members.isEmpty else { throw PaxsyncError(.badInput, "the roster lists no members", subject: source) }
        var seen = Set<String>()
        for m in members {
            let subject = "\(source): member \(m.id)"
            guard Identifier.isValidMember(m.id) else {
                throw PaxsyncError(.badInput, "member id must be 2–16 uppercase letters or digits", subject: subject)
            }
            guard seen.insert(m.id).inserted else { throw PaxsyncError(.badInput, "member listed twice", subject: subject) }
            guard CodeLists.countries.contains(m.country) else {
                throw PaxsyncError(.badInput, "country \"\(m.country)\" is not an ISO 3166-1 alpha-2 code", subject: subject)
            }
            guard !m.name.isEmpty else { throw PaxsyncError(.badInput, "name is empty", subject: subject) }
            // Canonical base64 only, so that two rosters list one key with one spelling
            // (`merging` compares the strings).
            guard let key = Data(base64Encoded: m.signingKey), key.count == 32, key.base64EncodedString() == m.signingKey,
                  (try? Curve25519.Signing.PublicKey(rawRepresentation: key)) != nil else {
                throw PaxsyncError(.badInput, "signingKey must be a 32-byte Ed25519 public key in standard base64 with padding "
                                   + "(44 characters ending in '=')", subject: subject)
            }
            if let pin = m.tlsPin, !RosterMember.isValidTLSPin(pin) {
                throw PaxsyncError(.badInput, "tlsPin must be the SHA-256 of the TLS certificate's public key (SubjectPublicKeyInfo), "
                                   + "64 lowercase hex digits, as `paxsync tls pin` prints it; not \"\(pin)\"", subject: subject)
            }
        }
    }

    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try! encoder.encode(self) + Data("\n".utf8)
    }
}

/// A node's Ed25519 signing key, stored as `ed25519:BASE64` (raw 32 bytes).
public struct NodeSigningKey: Sendable {
    public let key: Curve25519.Signing.PrivateKey

    public init(key: Curve25519.Signing.PrivateKey = .init()) { self.key = key }

    public var publicKeyBase64: String { key.publicKey.rawRepresentation.base64EncodedString() }

    public var fileContents: String { "ed25519:\(key.rawRepresentation.base64EncodedString())\n" }

    public init(fileContents text: String, source: String) throws(PaxsyncError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("ed25519:"), let raw = Data(base64Encoded: String(trimmed.dropFirst(8))), raw.count == 32,
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw PaxsyncError(.badInput, "not a paxsync signing key (expected one line ed25519:BASE64 of 32 bytes)", subject: source)
        }
        self.key = key
    }
}

extension RosterMember {
    /// The roster's form of a member that a governance decision admitted.
    public init(governed m: GovernedMember) {
        self.init(id: m.id, country: m.country, name: m.name, signingKey: Data(m.signingKey).base64EncodedString(),
                  address: m.address, tlsPin: m.tlsPin?.hex)
    }

    /// Whether `pin` (lowercase hex) is this member's TLS pin, or its previous one still within its grace period.
    public func acceptsTLSPin(_ pin: String, nowMilliseconds: UInt64) -> Bool {
        if pin == tlsPin { return true }
        guard let previous = tlsPinPrevious, let until = tlsPinPreviousUntil else { return false }
        return pin == previous && nowMilliseconds <= until
    }

    /// The governance form of this roster member (a founder).
    public var governed: GovernedMember {
        GovernedMember(id: id, country: country, name: name, signingKey: publicKeyBytes, address: address,
                       tlsPin: tlsPin.flatMap { [UInt8](hex: $0) })
    }
}
