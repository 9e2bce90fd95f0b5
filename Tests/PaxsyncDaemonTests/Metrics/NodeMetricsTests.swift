import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
@testable import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
@testable import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// The samples of a Prometheus text exposition: `name{labels}` to value.
func samples(_ exposition: [UInt8]) -> [String: Double] {
    var out: [String: Double] = [:]
    for line in String(decoding: exposition, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        out[String(line[..<space])] = value
    }
    return out
}

/// The `# TYPE` of each metric family in an exposition.
func families(_ exposition: [UInt8]) -> [String: String] {
    var out: [String: String] = [:]
    for line in String(decoding: exposition, as: UTF8.self).split(separator: "\n") where line.hasPrefix("# TYPE ") {
        let parts = line.split(separator: " ")
        if parts.count == 4 { out[String(parts[2])] = String(parts[3]) }
    }
    return out
}

@Suite("Node metrics")
struct NodeMetricsTests {
    @Test("counters and the apply-latency histogram add up what the sessions observed")
    func counters() {
        let metrics = NodeMetrics()
        var first = BatchResult()
        first.appliedByOrigin = ["JP": 3, "KR": 1]
        first.rejectedByCode = ["bad-signature": 2]
        metrics.received(first, entries: 6, bytes: 1200, peer: "JP", nanoseconds: 3_000_000)
        var second = BatchResult()
        second.appliedByOrigin = ["JP": 1]
        metrics.received(second, entries: 1, bytes: 100, peer: "JP", nanoseconds: 700_000)
        metrics.traffic(peer: "KR", direction: .outbound, entries: 4, bytes: 400)
        metrics.session(peer: "JP", outcome: .opened)
        metrics.session(peer: "JP", outcome: .failed)
        metrics.session(peer: "JP", outcome: .opened)
        metrics.session(peer: "KR", outcome: .opened)

        let text = metrics.exposition()
        let s = samples(text)
        #expect(s["paxsync_entries_applied_total{origin=\"JP\"}"] == 4)
        #expect(s["paxsync_entries_applied_total{origin=\"KR\"}"] == 1)
        #expect(s["paxsync_entries_rejected_total{reason=\"bad-signature\"}"] == 2)
        #expect(s["paxsync_peer_entries_total{peer=\"JP\",direction=\"in\"}"] == 7)
        #expect(s["paxsync_peer_bytes_total{peer=\"JP\",direction=\"in\"}"] == 1300)
        #expect(s["paxsync_peer_entries_total{peer=\"KR\",direction=\"out\"}"] == 4)
        #expect(s["paxsync_peer_bytes_total{peer=\"KR\",direction=\"out\"}"] == 400)
        #expect(s["paxsync_peer_entries_total{peer=\"JP\",direction=\"out\"}"] == nil, "nothing went out to JP")
        #expect(s["paxsync_sync_sessions_total{peer=\"JP\",outcome=\"opened\"}"] == 2)
        #expect(s["paxsync_sync_sessions_total{peer=\"JP\",outcome=\"failed\"}"] == 1)
        #expect(s["paxsync_sync_sessions_total{peer=\"KR\",outcome=\"opened\"}"] == 1)
        #expect(s["paxsync_apply_duration_seconds_count"] == 2)
        #expect(abs((s["paxsync_apply_duration_seconds_sum"] ?? 0) - 0.0037) < 1e-9)
        // 0.7 ms falls in the 1 ms bucket, 3 ms in the 5 ms one; buckets are cumulative.
        let buckets = ["0.0005": 0.0, "0.001": 1, "0.002": 1, "0.005": 2, "0.01": 2, "5.0": 2, "+Inf": 2]
        for (le, count) in buckets {
            #expect(s["paxsync_apply_duration_seconds_bucket{le=\"\(le)\"}"] == count, "bucket le=\(le)")
        }
        let types = families(text)
        #expect(types["paxsync_entries_applied_total"] == "counter" && types["paxsync_sync_sessions_total"] == "counter")
        #expect(types["paxsync_apply_duration_seconds"] == "histogram")
    }

    @Test("gauges are set from the node's status: held, quarantined by reason, log size, per-origin sequence")
    func gaugesFromStatus() throws {
        let coalition = TestCoalition()
        let dir = TemporaryDirectory()
        let au = try coalition.replica("AU", in: dir)
        let jp = try coalition.replica("JP", in: dir)
        let kr = try coalition.replica("KR", in: dir)
        try au.commit([Records.facility("AU-A")])
        try au.commit([Records.facility("AU-B")])
        for id in ["JP-A", "JP-B", "JP-C"] { try jp.commit([Records.facility(id, country: "JP")]) }
        try kr.commit([Records.facility("KR-A", country: "KR")])
        let jpEntries = try jp.allEntries()
        var forged = try kr.allEntries()[0].signature
        forged[0] ^= 0x01
        let outcomes = try au.apply([jpEntries[0], jpEntries[2], SignedEntry(body: try kr.allEntries()[0].body, signature: forged)])
        #expect(outcomes.map(\.description) == [
            "applied",
            "held (gap): waiting for JP:2 (the chain has no gaps)",
            "quarantined (bad-signature): KR:1: the signature does not verify against KR's roster key",
        ])

        let status = try NodeStatus.build(replica: au, version: "test", daemon: nil)
        let metrics = NodeMetrics()
        metrics.refresh(from: status)
        let text = metrics.exposition()
        let s = samples(text)
        #expect(s["paxsync_entries_held"] == 1)
        #expect(s["paxsync_quarantined_entries{reason=\"bad-signature\"}"] == 1)
        #expect(s["paxsync_quarantined_entries{reason=\"chain-mismatch\"}"] == 0)
        #expect(s["paxsync_quarantined_entries{reason=\"unauthorized\"}"] == 0)
        #expect(s["paxsync_equivocations"] == 0)
        #expect(s["paxsync_conflicts_open"] == 0)
        #expect(s["paxsync_log_entries"] == 3)
        #expect(s["paxsync_origin_sequence{origin=\"AU\"}"] == 2)
        #expect(s["paxsync_origin_sequence{origin=\"JP\"}"] == 1)
        #expect(s["paxsync_origin_sequence{origin=\"KR\"}"] == 0)
        #expect(s["paxsync_origin_lag_entries{origin=\"JP\"}"] == 0, "no peer announced more: nothing known to be missing")
        #expect(s["paxsync_replica_bytes"] == Double(status.replicaBytes) && status.replicaBytes > 0)
        #expect(s["paxsync_uptime_seconds"] == 0, "no daemon runs")
        #expect(!s.keys.contains { $0.hasPrefix("paxsync_peer_connected") }, "no daemon, no peers")
        #expect(families(text)["paxsync_entries_held"] == "gauge")
    }
}
