import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore
import Prometheus
import ServiceLifecycle

/// The daemon's metrics (swift-metrics, exposed in Prometheus format). The
/// registry belongs to the node — no process-wide metrics system is bootstrapped
/// — so several nodes can run in one process (tests) with separate metrics.
///
/// Counters are updated as sessions run; gauges are refreshed from the node's
/// status at every scrape.
public final class NodeMetrics: SyncObserver {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["paxsync_apply_duration_seconds"] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        self.factory = factory
    }

    /// A batch received from `peer` was applied in `nanoseconds`.
    public func received(_ result: BatchResult, entries: Int, bytes: Int, peer: String, nanoseconds: UInt64) {
        for (origin, n) in result.appliedByOrigin {
            Counter(label: "paxsync_entries_applied_total", dimensions: [("origin", origin)], factory: factory).increment(by: n)
        }
        for (code, n) in result.rejectedByCode {
            Counter(label: "paxsync_entries_rejected_total", dimensions: [("reason", code)], factory: factory).increment(by: n)
        }
        traffic(peer: peer, direction: .inbound, entries: entries, bytes: bytes)
        Timer(label: "paxsync_apply_duration_seconds", factory: factory).recordNanoseconds(Int64(nanoseconds))
    }

    public func traffic(peer: String, direction: TrafficDirection, entries: Int, bytes: Int) {
        Counter(label: "paxsync_peer_entries_total", dimensions: [("peer", peer), ("direction", direction.rawValue)], factory: factory)
            .increment(by: entries)
        Counter(label: "paxsync_peer_bytes_total", dimensions: [("peer", peer), ("direction", direction.rawValue)], factory: factory)
            .increment(by: bytes)
    }

    /// A sync session with `peer` opened, ended, failed or was refused.
    public func session(peer: String, outcome: SessionOutcome) {
        Counter(label: "paxsync_sync_sessions_total", dimensions: [("peer", peer), ("outcome", outcome.rawValue)], factory: factory).increment()
    }

    /// Sets the gauges from the node's status.
    public func refresh(from status: NodeStatus) {
        func gauge(_ label: String, _ dimensions: [(String, String)], _ value: Double) {
            Meter(label: label, dimensions: dimensions, factory: factory).set(value)
        }
        for peer in status.peers {
            gauge("paxsync_peer_connected", [("peer", peer.id)], peer.connected ? 1 : 0)
            gauge("paxsync_peer_behind_entries", [("peer", peer.id)], Double(peer.behindEntries))
        }
        for origin in status.origins {
            gauge("paxsync_origin_lag_entries", [("origin", origin.origin)], Double(origin.lagEntries))
            gauge("paxsync_origin_sequence", [("origin", origin.origin)], Double(origin.heldSeq))
        }
        gauge("paxsync_entries_held", [], Double(status.held.count))
        var quarantined: [String: Int] = [:]
        for item in status.quarantined { quarantined[item.code, default: 0] += 1 }
        for code in Set(quarantined.keys).union(["bad-signature", "chain-mismatch", "unauthorized"]) {
            gauge("paxsync_quarantined_entries", [("reason", code)], Double(quarantined[code] ?? 0))
        }
        gauge("paxsync_equivocations", [], Double(status.equivocations.count))
        gauge("paxsync_conflicts_open", [], Double(status.openConflicts))
        gauge("paxsync_log_entries", [], Double(status.logEntries))
        gauge("paxsync_replica_bytes", [], Double(status.replicaBytes))
        gauge("paxsync_uptime_seconds", [], status.uptimeSeconds ?? 0)
        gauge("paxsync_local_writes_paused", [], status.localWritesPaused == nil ? 0 : 1)
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
