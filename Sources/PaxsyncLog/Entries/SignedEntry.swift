import Crypto
import Foundation
import PaxsyncModel
import SwiftProtobuf

/// A log entry: the exact body bytes of a change set, its origin's signature,
/// and the decoded change set.
public struct SignedEntry: Sendable, Hashable {
    /// The ASCII domain-separation prefix signed before the body, then a zero byte.
    public static let signingContext: [UInt8] = Array("paxsync-entry-v1".utf8) + [0]

    public let body: [UInt8]
    public let signature: [UInt8]
    public let changeSet: ChangeSet

    public var id: EntryID { changeSet.id }

    /// SHA-256 of the body: what the origin's next entry carries as `prev_hash`.
    public var hash: [UInt8] { Self.hash(body: body) }

    public static func hash(body: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: body)) }

    /// Decodes stored or received bytes; the signature is not checked here.
    public init(body: [UInt8], signature: [UInt8]) throws(PaxsyncError) {
        self.body = body
        self.signature = signature
        self.changeSet = try ChangeSet(body: body)
    }

    /// Serializes and signs a change set with its origin's key.
    public init(signing changeSet: ChangeSet, with key: Curve25519.Signing.PrivateKey) {
        let body = changeSet.serializedBody()
        self.body = body
        self.signature = Array(try! key.signature(for: Self.signingContext + body))
        self.changeSet = changeSet
    }

    /// Whether the signature verifies against the given raw Ed25519 public key.
    public func verify(publicKey: [UInt8]) -> Bool {
        guard signature.count == 64, let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: Self.signingContext + body)
    }

    /// The envelope message (body + signature) as bytes, for bundles and the wire.
    public func envelopeBytes() -> [UInt8] {
        var w = Paxsync_V1_SignedEntry()
        w.body = Data(body)
        w.signature = Data(signature)
        return Array(try! w.serializedBytes() as [UInt8])
    }

    /// Splits an envelope message into body and signature without decoding the body.
    public static func envelopeFields(_ envelope: [UInt8]) throws(PaxsyncError) -> (body: [UInt8], signature: [UInt8]) {
        do {
            let w = try Paxsync_V1_SignedEntry(serializedBytes: envelope)
            return (Array(w.body), Array(w.signature))
        } catch {
            throw PaxsyncError(.malformedEntry, "not a valid SignedEntry message", underlying: error)
        }
    }

    /// Decodes an envelope message.
    public init(envelope: [UInt8]) throws(PaxsyncError) {
        let w: Paxsync_V1_SignedEntry
        do { w = try Paxsync_V1_SignedEntry(serializedBytes: envelope) } catch {
            throw PaxsyncError(.malformedEntry, "not a valid SignedEntry message", underlying: error)
        }
        try self.init(body: Array(w.body), signature: Array(w.signature))
    }
}

