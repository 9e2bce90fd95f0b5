import Foundation
import PaxsyncModel
import PaxsyncStore

/// A coalition CA on disk, and the node certificates it issues into a
/// directory: what `paxsync ca init` / `ca issue` and the local coalition write.
///
/// Layout: `ca.crt` (share with every node) and `ca.key` (mode 0600, keep
/// offline); a node's TLS directory holds `node.crt`, `node.key` (0600) and a
/// copy of `ca.crt`, the names a node's default configuration reads.
public struct CADirectory: Sendable {
    public let path: String

    public init(_ path: String) { self.path = path }

    public var certificatePath: String { (path as NSString).appendingPathComponent("ca.crt") }
    public var keyPath: String { (path as NSString).appendingPathComponent("ca.key") }

    /// Creates a CA in `path`; refuses to overwrite an existing one.
    public static func create(at path: String, name: String, validDays: Int = 3650) throws -> CADirectory {
        let dir = CADirectory(path)
        guard !FileManager.default.fileExists(atPath: dir.certificatePath) else {
            throw PaxsyncError(.usage, "a CA already exists here; refusing to overwrite its key", subject: path)
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let ca = try CoalitionPKI.createCA(name: name, validDays: validDays)
        try FileWriter.write(dir.certificatePath, ca.certificatePEM, mode: 0o644)
        try FileWriter.write(dir.keyPath, ca.privateKeyPEM, mode: 0o600)
        return dir
    }

    /// Issues node `id`'s certificate into the directory `out` (created 0700).
    public func issueNode(id: String, hosts: [String] = [], validDays: Int = 825, into out: String) throws {
        func read(_ file: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw PaxsyncError(.notFound, "cannot read the CA's \((file as NSString).lastPathComponent); create a CA with `paxsync ca init`",
                                   subject: file)
            }
            return String(decoding: data, as: UTF8.self)
        }
        let caCertificate = try read(certificatePath)
        let issued = try CoalitionPKI.issueNode(id: id, caCertificatePEM: caCertificate, caKeyPEM: try read(keyPath),
                                                hosts: hosts, validDays: validDays)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let files = TLSFiles(directory: out)
        try FileWriter.write(files.certificate, issued.certificatePEM, mode: 0o644)
        try FileWriter.write(files.privateKey, issued.privateKeyPEM, mode: 0o600)
        try FileWriter.write(files.ca, caCertificate, mode: 0o644)
    }
}
