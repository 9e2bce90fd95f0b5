import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync
import ServiceLifecycle

/// How a node takes part in peer sync.
public struct SyncConfiguration: Sendable {
    /// `host:port` to listen on; port 0 picks a free one.
    public var listenHost: String
    public var listenPort: Int
    public var tls: TLSFiles
    /// Roster members this node peers with. It dials those whose id sorts after
    /// its own and accepts sessions from all of them.
    public var peers: Set<String>
    /// Whom the server accepts sessions from, asked at each session; when nil,
    /// ``peers``. A daemon that follows its roster passes its current peers.
    public var acceptsPeer: (@Sendable (String) -> Bool)?
    /// Reconnection delays.
    public var backoff: Backoff = Backoff()
    /// How long an accepted connection may take to finish its TLS handshake.
    public var handshakeTimeout: Duration = .seconds(10)
    /// TLS handshakes in progress at once: in all, and from one remote address.
    public var maxPendingHandshakes = 256
    public var maxPendingHandshakesPerAddress = 8

    public init(listenHost: String, listenPort: Int, tls: TLSFiles, peers: Set<String>) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.tls = tls
        self.peers = peers
    }

    /// Parses `host:port`.
    public static func address(_ text: String) throws -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw PaxsyncError(.badInput, "expected host:port", subject: text)
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }   // [::1]:7400
        return (host, port)
    }
}
