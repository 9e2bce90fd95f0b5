import Foundation
import PaxsyncModel

/// A node's settings, read from `paxsync.conf` in its data directory.
///
/// The file is lines of `key = value` (strings in double quotes, numbers bare);
/// `#` starts a comment. `Deploy/paxsync.conf.example` documents every key.
public struct NodeConfiguration: Sendable, Equatable {
    public var nodeID: String
    /// Replica database, relative to the data directory.
    public var replicaFile = "replica.sqlite"
    public var rosterFile = "roster.json"
    public var keyFile = "node.key"
    /// Entries stamped further ahead of this node's clock are held until it catches up.
    public var maxClockSkewSeconds: UInt64 = 300
    /// `host:port` the node listens on for peers.
    public var listen = "127.0.0.1:7400"
    /// trace, debug, info, notice, warning, error or critical.
    public var logLevel = "info"
    /// The node's TLS certificate and key, and the coalition CA (PEM), from `paxsync ca issue`.
    public var tlsCertificate = "tls/node.crt"
    public var tlsKey = "tls/node.key"
    public var tlsCA = "tls/ca.crt"
    /// Roster members this node peers with: `*` for all, or ids separated by commas.
    public var peers = "*"
    /// The admin endpoint: a Unix socket (mode 0600) that `paxsync status` queries.
    public var adminSocket = "admin.sock"
    /// `host:port` of the Prometheus endpoint (`/metrics`); empty turns it off.
    public var metricsListen = ""

    public init(nodeID: String) { self.nodeID = nodeID }

    /// swift-log's levels, as `log_level` spells them.
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    static let keys = ["node_id", "replica", "roster", "key", "max_clock_skew_seconds", "listen", "log_level",
                       "tls_certificate", "tls_key", "tls_ca", "peers", "admin_socket", "metrics_listen"]

    /// The file as `node init` writes it, every setting explained.
    public var fileContents: String {
        """
        # paxsync node configuration.
        # Lines are `key = value`; strings in double quotes; `#` starts a comment.
        # Paths are relative to this file's directory (the data directory).

        # This node's coalition member id, as listed in the roster.
        node_id = "\(nodeID)"

        # The SQLite replica: shared records, the signed log of every origin, merge
        # metadata. An ordinary SQLite file: `sqlite3 \(replicaFile)` opens it.
        replica = "\(replicaFile)"

        # The coalition roster: members, countries, signing public keys, addresses.
        roster = "\(rosterFile)"

        # This node's Ed25519 signing key (mode 0600). Never share or copy it.
        key = "\(keyFile)"

        # Entries stamped further ahead of this node's clock than this many seconds
        # are held, not rejected, until the clock is within the bound.
        max_clock_skew_seconds = \(maxClockSkewSeconds)

        # Address this node listens on for peers (used by `paxsync serve`).
        listen = "\(listen)"

        # Log level: trace, debug, info, notice, warning, error, critical.
        log_level = "\(logLevel)"

        # Mutual TLS between nodes: this node's certificate and key, and the
        # coalition CA that is the only trust root (`paxsync ca issue` writes them).
        tls_certificate = "\(tlsCertificate)"
        tls_key = "\(tlsKey)"
        tls_ca = "\(tlsCA)"

        # Roster members to sync with: "*" for all, or ids separated by commas
        # ("JP,KR"). The node dials those whose id sorts after its own and accepts
        # sessions from all of them.
        peers = "\(peers)"

        # The admin endpoint `paxsync status` and `paxsync peers` query while the
        # daemon runs: a Unix socket created with mode 0600 (owner only).
        admin_socket = "\(adminSocket)"

        # Prometheus metrics at http://HOST:PORT/metrics; "" (the default) turns
        # them off. Keep it on loopback or a monitoring network.
        metrics_listen = "\(metricsListen)"

        """
    }

    /// Parses the file. Errors name the file and line.
    public static func parse(_ text: String, source: String) throws(PaxsyncError) -> NodeConfiguration {
        var values: [String: String] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let at = "\(source):\(index + 1)"
            guard let eq = line.firstIndex(of: "=") else { throw PaxsyncError(.badInput, "expected `key = value`", subject: at) }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard keys.contains(key) else {
                throw PaxsyncError(.badInput, "unknown setting \"\(key)\"; known: \(keys.joined(separator: ", "))", subject: at)
            }
            if value.hasPrefix("\"") {
                guard value.count >= 2, value.hasSuffix("\"") else { throw PaxsyncError(.badInput, "unterminated string", subject: at) }
                value = String(value.dropFirst().dropLast())
            }
            values[key] = value
        }
        guard let nodeID = values["node_id"], Identifier.isValidMember(nodeID) else {
            throw PaxsyncError(.badInput, "node_id is missing or not a member id", subject: source)
        }
        var config = NodeConfiguration(nodeID: nodeID)
        if let v = values["replica"] { config.replicaFile = v }
        if let v = values["roster"] { config.rosterFile = v }
        if let v = values["key"] { config.keyFile = v }
        if let v = values["listen"] { config.listen = v }
        if let v = values["log_level"] {
            guard logLevels.contains(v) else {
                throw PaxsyncError(.badInput, "log_level must be one of \(logLevels.joined(separator: ", ")), not \"\(v)\"", subject: source)
            }
            config.logLevel = v
        }
        if let v = values["tls_certificate"] { config.tlsCertificate = v }
        if let v = values["tls_key"] { config.tlsKey = v }
        if let v = values["tls_ca"] { config.tlsCA = v }
        if let v = values["peers"] { config.peers = v }
        if let v = values["admin_socket"] { config.adminSocket = v }
        if let v = values["metrics_listen"] { config.metricsListen = v }
        if let v = values["max_clock_skew_seconds"] {
            guard let n = UInt64(v) else {
                throw PaxsyncError(.badInput, "max_clock_skew_seconds must be a whole number of seconds", subject: source)
            }
            config.maxClockSkewSeconds = n
        }
        return config
    }

    /// The peer ids, given the roster's members.
    public func peerIDs(roster members: [String]) -> Set<String> {
        if peers.trimmingCharacters(in: .whitespaces) == "*" { return Set(members).subtracting([nodeID]) }
        return Set(peers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }
}
