import Crypto
import Foundation
import PaxsyncModel
import SwiftASN1
import X509

/// The coalition's X.509 certificates for mutual TLS between nodes.
///
/// A coalition CA (P-256) issues each node a certificate whose subject
/// alternative names carry the node id as the DNS name `<id>.node.paxsync`
/// (lowercase). A dialing node asks TLS to verify exactly that name for the
/// peer it dials; an accepting node reads it from the client certificate and
/// binds it to the peer's hello. Agencies may bring their own CA as long as it
/// issues certificates with that name.
public enum CoalitionPKI {
    public static let nodeDomain = "node.paxsync"

    /// The DNS name that identifies a node in certificates: `au.node.paxsync`.
    public static func dnsName(forNode id: String) -> String { "\(id.lowercased()).\(nodeDomain)" }

    /// A certificate and its private key, PEM-encoded.
    public struct Issued: Sendable {
        public let certificatePEM: String
        public let privateKeyPEM: String
    }

    /// Creates a self-signed coalition CA.
    public static func createCA(name: String, validDays: Int = 3650, now: Date = Date()) throws -> Issued {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("paxsync coalition")
            CommonName(name)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(validDays) * 86400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
        return Issued(certificatePEM: try certificate.serializeAsPEM().pemString + "\n", privateKeyPEM: key.pemRepresentation + "\n")
    }

    /// Issues a node certificate signed by the CA.
    ///
    /// - Parameters:
    ///   - hosts: Extra DNS names or IP addresses the node is reached at (for other tools).
    ///   - notBefore / validDays: Validity; tests issue expired certificates with these.
    public static func issueNode(id: String, caCertificatePEM: String, caKeyPEM: String, hosts: [String] = [],
                                 validDays: Int = 825, notBefore: Date = Date().addingTimeInterval(-300)) throws -> Issued {
        guard Identifier.isValidMember(id) else {
            throw PaxsyncError(.usage, "a node id is 2–16 uppercase letters or digits", subject: id)
        }
        let ca = try Certificate(pemEncoded: caCertificatePEM)
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: caKeyPEM)
        let key = P256.Signing.PrivateKey()
        let names = subjectAlternativeNames(id: id, hosts: hosts)
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: notBefore, notValidAfter: notBefore.addingTimeInterval(Double(validDays) * 86400),
            issuer: ca.subject,
            subject: try DistinguishedName {
                OrganizationName("paxsync coalition")
                CommonName("paxsync node \(id)")
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(caKey))
        return Issued(certificatePEM: try certificate.serializeAsPEM().pemString + "\n", privateKeyPEM: key.pemRepresentation + "\n")
    }

    /// Creates a self-signed node certificate: enough for peers whose roster pins
    /// its key (``RosterMember/tlsPin``), no CA involved.
    public static func selfSignedNode(id: String, hosts: [String] = [], validDays: Int = 825,
                                      notBefore: Date = Date().addingTimeInterval(-300)) throws -> Issued {
        guard Identifier.isValidMember(id) else {
            throw PaxsyncError(.usage, "a node id is 2–16 uppercase letters or digits", subject: id)
        }
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("paxsync coalition")
            CommonName("paxsync node \(id)")
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: notBefore, notValidAfter: notBefore.addingTimeInterval(Double(validDays) * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(subjectAlternativeNames(id: id, hosts: hosts))
            },
            issuerPrivateKey: .init(key))
        return Issued(certificatePEM: try certificate.serializeAsPEM().pemString + "\n", privateKeyPEM: key.pemRepresentation + "\n")
    }

    /// `<id>.node.paxsync`, then each host as an IP address or DNS name.
    static func subjectAlternativeNames(id: String, hosts: [String]) -> [GeneralName] {
        var names: [GeneralName] = [.dnsName(dnsName(forNode: id))]
        for host in hosts {
            if let ip = IPAddressBytes(host) { names.append(.ipAddress(ASN1OctetString(contentBytes: ip[...]))) } else { names.append(.dnsName(host)) }
        }
        return names
    }

    /// The node id a certificate names, from its `<id>.node.paxsync` DNS name.
    public static func nodeID(of certificate: Certificate) -> String? {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return nil }
        for name in names {
            if case .dnsName(let dns) = name, dns.hasSuffix("." + nodeDomain) {
                let id = String(dns.dropLast(nodeDomain.count + 1)).uppercased()
                if Identifier.isValidMember(id) { return id }
            }
        }
        return nil
    }

    /// Parses `a.b.c.d` into 4 bytes, or nil.
    static func IPAddressBytes(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".")
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }
}
