// libFuzzer target: a peer's X.509 certificate, DER and PEM, and what a node
// reads from it: the node id from its SubjectAlternativeNames, the subject
// common name, and the SHA-256 of its SubjectPublicKeyInfo DER.
// Links swift-certificates, SwiftASN1, swift-crypto and PaxsyncModel only, never
// PaxsyncNet (which pulls in gRPC and NIO). Any input may throw; none may trap.
import Crypto
import PaxsyncModel
import SwiftASN1
import X509

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    if let certificate = try? Certificate(derEncoded: bytes) {
        inspect(certificate)
        // A parsed certificate serializes back to DER that parses to the same certificate.
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(certificate)) != nil,
              let again = try? Certificate(derEncoded: serializer.serializedBytes), again == certificate else {
            fatalError("a parsed certificate does not round-trip through DER")
        }
    }

    let text = String(decoding: bytes, as: UTF8.self)
    if let certificate = try? Certificate(pemEncoded: text) { inspect(certificate) }
    // A chain file: several PEM blocks.
    if let documents = try? PEMDocument.parseMultiple(pemString: text) {
        for document in documents where document.discriminator == "CERTIFICATE" {
            if let certificate = try? Certificate(derEncoded: document.derBytes) { inspect(certificate) }
        }
    }
    return 0
}

func inspect(_ certificate: Certificate) {
    _ = nodeID(of: certificate)
    _ = commonName(of: certificate)
    var serializer = DER.Serializer()
    if (try? serializer.serialize(certificate.publicKey)) != nil {
        _ = SHA256.hash(data: serializer.serializedBytes)
    }
    _ = certificate.publicKey.subjectPublicKeyInfoBytes
    // The other extensions a verifier reads.
    _ = try? certificate.extensions.basicConstraints
    _ = try? certificate.extensions.keyUsage
    _ = try? certificate.extensions.extendedKeyUsage
    _ = try? certificate.extensions.subjectKeyIdentifier
    _ = try? certificate.extensions.authorityKeyIdentifier
    _ = try? certificate.extensions.nameConstraints
}

// A copy of CoalitionPKI.nodeID(of:) (Sources/PaxsyncNet/PKI/CoalitionPKI.swift):
// CoalitionPKI lives in PaxsyncNet, which cannot be linked here without gRPC and
// NIO, so its few lines are repeated. Keep them in step with the original.
let nodeDomain = "node.paxsync"

func nodeID(of certificate: Certificate) -> String? {
    guard let names = try? certificate.extensions.subjectAlternativeNames else { return nil }
    for name in names {
        if case .dnsName(let dns) = name, dns.hasSuffix("." + nodeDomain) {
            let id = String(dns.dropLast(nodeDomain.count + 1)).uppercased()
            if Identifier.isValidMember(id) { return id }
        }
    }
    return nil
}

func commonName(of certificate: Certificate) -> String? {
    for rdn in certificate.subject {
        for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
            return String(attribute.value) ?? attribute.value.description
        }
    }
    return nil
}
