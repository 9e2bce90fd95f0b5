import Foundation
@testable import PaxsyncCLI
import PaxsyncDaemon
import Testing

/// The status table as an operator reads it: ages, last errors only while they
/// matter, 120 columns, history with --verbose.
@Suite("status table")
struct StatusViewTests {
    /// A status made at 12:00:00 with the peers given as JSON objects.
    func status(_ peers: [[String: Any]]) throws -> NodeStatus {
        let object: [String: Any] = [
            "node": "AU", "version": "test", "daemonRunning": true, "generatedAt": "2026-11-30T12:00:00.000Z",
            "roster": [], "peers": peers, "origins": [], "held": [], "quarantined": [], "equivocations": [],
            "openConflicts": 0, "logEntries": 0, "replicaBytes": 0,
        ]
        return try JSONDecoder().decode(NodeStatus.self, from: JSONSerialization.data(withJSONObject: object))
    }

    func peer(_ id: String, connected: Bool, since: String?, error: String?, at: String?, history: [(String, String)] = []) -> [String: Any] {
        var p: [String: Any] = ["id": id, "address": "127.0.0.1:7401", "connected": connected, "sessions": 1, "entriesIn": 3,
                                "entriesOut": 4, "bytesIn": 300, "bytesOut": 400, "behindEntries": 0,
                                "lastContact": "2026-11-30T11:59:58.000Z"]
        if let since { p["since"] = since }
        if let error { p["lastError"] = error }
        if let at { p["lastErrorAt"] = at }
        if !history.isEmpty { p["recentErrors"] = history.map { ["message": $0.0, "at": $0.1] } }
        return p
    }

    @Test("a connected peer shows no error from before it connected; a down peer shows its error with its age")
    func relevantErrors() throws {
        let s = try status([
            peer("JP", connected: true, since: "2026-11-30T11:55:00.000Z", error: "connection refused", at: "2026-11-30T11:50:00.000Z"),
            peer("KR", connected: false, since: "2026-11-30T11:57:00.000Z", error: "stream reset",
                 at: "2026-11-30T11:57:00.000Z"),
        ])
        let lines = StatusView.peers(s).split(separator: "\n").map(String.init)
        let jp = try #require(lines.first { $0.hasPrefix("JP") })
        let kr = try #require(lines.first { $0.hasPrefix("KR") })
        #expect(jp.contains("connected") && jp.contains("5m0s") && jp.hasSuffix("-") && !jp.contains("refused"), "\(jp)")
        #expect(jp.contains("2s ago"), "last contact as an age: \(jp)")
        #expect(kr.contains("down") && kr.hasSuffix("3m0s ago: stream reset"), "\(kr)")
    }

    @Test("every line fits 120 columns: a long error is cut with an ellipsis")
    func fitsWidth() throws {
        let long = String(repeating: "TLS handshake failed: certificate verify failed ", count: 6)
        let s = try status([peer("JP", connected: false, since: nil, error: long, at: "2026-11-30T11:59:00.000Z")])
        let lines = StatusView.peers(s).split(separator: "\n")
        #expect(lines.allSatisfy { $0.count <= StatusView.width }, "\(lines.map(\.count))")
        #expect(lines[1].hasSuffix("…") && lines[1].contains("never up"))
    }

    @Test("--verbose lists each peer's recent errors with their times, also the ones the table hides")
    func verboseHistory() throws {
        let s = try status([
            peer("JP", connected: true, since: "2026-11-30T11:55:00.000Z", error: "connection refused", at: "2026-11-30T11:50:00.000Z",
                 history: [("connection reset", "2026-11-30T11:40:00.000Z"), ("connection refused", "2026-11-30T11:50:00.000Z")]),
        ])
        let text = StatusView.peers(s, verbose: true)
        #expect(text.contains("recent errors, oldest first:"))
        #expect(text.contains("  JP  2026-11-30T11:40:00.000Z (20m0s ago)  connection reset"))
        #expect(text.contains("  JP  2026-11-30T11:50:00.000Z (10m0s ago)  connection refused"))
        #expect(!StatusView.peers(s).contains("recent errors"))
    }
}
