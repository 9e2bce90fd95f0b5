import Foundation
import GRPCNIOTransportHTTP2
import PaxsyncModel

/// The PEM files of a node's mutual-TLS identity.
public struct TLSFiles: Sendable {
    public var certificate: String
    public var privateKey: String
    /// The coalition CA: the only trust root on both sides.
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

    /// Checks the files exist, naming the missing one.
    public func check() throws {
        for (what, path) in [("certificate", certificate), ("TLS private key", privateKey), ("coalition CA certificate", ca)]
        where !FileManager.default.fileExists(atPath: path) {
            throw PaxsyncError(.notFound, "the node's \(what) is missing; issue one with `paxsync ca issue`", subject: path)
        }
    }

    /// Server side: require a client certificate from the coalition CA (and no other root).
    public var serverSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.file(path: certificate, format: .pem)], privateKey: .file(path: privateKey, format: .pem)) { config in
            config.trustRoots = .certificates([.file(path: ca, format: .pem)])
            config.clientCertificateVerification = .noHostnameVerification
        }
    }

    /// Client side: present our certificate, trust only the coalition CA, and
    /// verify the server's certificate names the node we dial.
    public var clientSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.file(path: certificate, format: .pem)], privateKey: .file(path: privateKey, format: .pem)) { config in
            config.trustRoots = .certificates([.file(path: ca, format: .pem)])
            config.serverCertificateVerification = .fullVerification
        }
    }
}
