import Foundation
import GRPCNIOTransportHTTP2
import PaxsyncLog
import PaxsyncModel
import SwiftASN1
import X509

/// The PEM files of a node's mutual-TLS identity.
public struct TLSFiles: Sendable {
    public var certificate: String
    public var privateKey: String
    /// The coalition CA: what vouches for members whose TLS key the roster does not pin.
    public var ca: String

    public init(certificate: String, privateKey: String, ca: String) {
        self.certificate = certificate
        self.privateKey = privateKey
        self.ca = ca
    }

    /// The files `paxsync ca issue` writes into a directory: node.crt, node.key, ca.crt.
    public init(directory: String) {
        self.init(certificate: (directory as NSString).appendingPathComponent("node.crt"),
                  privateKey: (directory as NSString).appendingPathComponent("node.key"),
                  ca: (directory as NSString).appendingPathComponent("ca.crt"))
    }

    /// Checks the certificate and key exist, naming the missing one. The CA is
    /// optional: a roster that pins every peer's TLS key needs none.
    public func check() throws {
        for (what, path) in [("certificate", certificate), ("TLS private key", privateKey)]
        where !FileManager.default.fileExists(atPath: path) {
            throw PaxsyncError(.notFound, "the node's \(what) is missing; issue one with `paxsync ca issue`, or create a "
                               + "self-signed one with `paxsync tls create`", subject: path)
        }
    }

    /// Whether the coalition CA's certificate file exists.
    public var hasCA: Bool { FileManager.default.fileExists(atPath: ca) }

    /// The coalition CA's certificates (a PEM file may hold several); none when the file is absent.
    public func caCertificates() throws -> [Certificate] {
        guard hasCA else { return [] }
        guard let data = FileManager.default.contents(atPath: ca) else {
            throw PaxsyncError(.storage, "cannot read the coalition CA certificate", subject: ca)
        }
        do {
            return try PEMDocument.parseMultiple(pemString: String(decoding: data, as: UTF8.self)).map { try Certificate(pemDocument: $0) }
        } catch {
            throw PaxsyncError(.badInput, "not a PEM certificate", subject: ca, underlying: error)
        }
    }

    /// How peers' certificates are judged: by the roster's pins, else by the coalition CA.
    public func peerCheck(roster: @escaping @Sendable () -> Roster) throws -> PeerCertificateCheck {
        PeerCertificateCheck(roster: roster, roots: try caCertificates())
    }

    /// Server side: require a client certificate, judged by `check` (pins, then the CA).
    public func serverSecurity(check: PeerCertificateCheck, refused: @escaping @Sendable (String) -> Void)
        -> HTTP2ServerTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.file(path: certificate, format: .pem)], privateKey: .file(path: privateKey, format: .pem)) { config in
            // Never the system's roots; the callback decides (and needs no roots of NIOSSL's).
            config.trustRoots = .certificates([])
            config.clientCertificateVerification = .noHostnameVerification
            config.customVerificationCallback = check.callback(dialed: nil, refused: refused)
        }
    }

    /// Client side: present our certificate, and accept the server's only if it
    /// names the member dialed and `check` accepts it.
    public func clientSecurity(check: PeerCertificateCheck, dialed: String, refused: @escaping @Sendable (String) -> Void)
        -> HTTP2ClientTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.file(path: certificate, format: .pem)], privateKey: .file(path: privateKey, format: .pem)) { config in
            config.trustRoots = .certificates([])
            config.serverCertificateVerification = .fullVerification
            config.customVerificationCallback = check.callback(dialed: dialed, refused: refused)
        }
    }
}
