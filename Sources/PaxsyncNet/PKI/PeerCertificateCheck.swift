import Crypto
import Foundation
import NIOCore
import NIOSSL
import PaxsyncLog
import PaxsyncModel
import SwiftASN1
import X509

/// Whether a peer's TLS certificate is accepted: the roster is the trust root.
///
/// The certificate names the member it speaks for (`<id>.node.paxsync`); on the
/// dialing side that must be the member dialed. The member must be in the roster.
/// If the roster pins the member's TLS key (``RosterMember/tlsPin``), the
/// certificate's key must be that key and the certificate within its validity
/// dates; who signed it does not matter (a self-signed certificate is enough,
/// and a coalition CA cannot speak for a pinned member with another key). A
/// member without a pin is accepted only with a certificate that chains to the
/// coalition CA.
public struct PeerCertificateCheck: Sendable {
    public enum Verdict: Sendable, Equatable {
        case accepted(member: String)
        case refused(String)
    }

    /// The roster as it is now (read on every handshake).
    let roster: @Sendable () -> Roster
    /// The coalition CA's certificates; empty when the node has none.
    let roots: [Certificate]

    public init(roster: @escaping @Sendable () -> Roster, roots: [Certificate]) {
        self.roster = roster
        self.roots = roots
    }

    /// The pin of a certificate's key: SHA-256 of its DER SubjectPublicKeyInfo, lowercase hex.
    /// The same as `openssl x509 -in node.crt -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`.
    /// Throws only if the key cannot be written back as DER (a peer's certificate is never trusted to parse cleanly).
    public static func pin(of certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate.publicKey)
        return Array(SHA256.hash(data: serializer.serializedBytes)).hex
    }

    /// The pin of the first certificate in a PEM text.
    public static func pin(ofPEM pem: String) throws -> String { try pin(of: try Certificate(pemEncoded: pem)) }

    /// Judges the chain a peer presented (leaf first).
    ///
    /// - Parameters:
    ///   - dialed: The member this node dialed; nil on the accepting side.
    ///   - now: The time the validity dates are checked against.
    public func verdict(chain: [Certificate], dialed: String?, now: Date) async -> Verdict {
        guard let leaf = chain.first else { return .refused("the peer presented no certificate") }
        guard let id = CoalitionPKI.nodeID(of: leaf) else {
            return .refused("the certificate names no paxsync node (<id>.node.paxsync)")
        }
        if let dialed, dialed != id { return .refused("dialed \(dialed), but the certificate names \(id)") }
        guard let member = roster().member(id) else { return .refused("\(id) is not in this node's roster") }
        if let pinned = member.tlsPin {
            guard let presented = try? Self.pin(of: leaf) else { return .refused("the certificate for \(id) has a public key that cannot be encoded") }
            guard member.acceptsTLSPin(presented, nowMilliseconds: UInt64(max(0, now.timeIntervalSince1970) * 1000)) else {
                return .refused("the certificate for \(id) has key \(presented), not the key the roster pins for \(id) (\(pinned))")
            }
            guard leaf.notValidBefore <= now else { return .refused("the certificate for \(id) is not valid until \(leaf.notValidBefore)") }
            guard now <= leaf.notValidAfter else { return .refused("the certificate for \(id) expired at \(leaf.notValidAfter)") }
            return .accepted(member: id)
        }
        guard !roots.isEmpty else {
            return .refused("the roster pins no TLS key for \(id) and this node has no coalition CA to check its certificate against")
        }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy(validationTime: now) }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(chain.dropFirst())) {
        case .validCertificate:
            return .accepted(member: id)
        case .couldNotValidate(let failures):
            let reason = failures.first.map { "\($0.policyFailureReason)" } ?? "no chain to the coalition CA"
            return .refused("the roster pins no TLS key for \(id) and its certificate does not verify against the coalition CA: \(reason)")
        }
    }

    /// The verification callback for swift-nio-ssl: decides with ``verdict(chain:dialed:now:)``
    /// and reports a refusal to `refused` (TLS itself only says "certificate unknown").
    func callback(dialed: String?, refused: @escaping @Sendable (String) -> Void)
        -> @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResultWithMetadata>) -> Void {
        { certificates, promise in
            promise.completeWithTask {
                var chain: [Certificate] = []
                for certificate in certificates {
                    guard let parsed = try? Certificate(derEncoded: certificate.toDERBytes()) else {
                        refused("the peer's certificate is not valid DER X.509")
                        return .failed
                    }
                    chain.append(parsed)
                }
                switch await self.verdict(chain: chain, dialed: dialed, now: Date()) {
                case .accepted:
                    return .certificateVerified(VerificationMetadata(ValidatedCertificateChain(certificates)))
                case .refused(let reason):
                    refused(reason)
                    return .failed
                }
            }
        }
    }
}
