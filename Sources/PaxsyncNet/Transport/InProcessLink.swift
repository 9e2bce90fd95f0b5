import Logging
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync

/// A sync session between two nodes of one process over in-memory streams:
/// the same session runner as over mutual TLS, without sockets, certificates
/// or HTTP/2. Tests drive it with a test clock (each node's `PeerRegistry`
/// carries one); benchmarks use it to measure the session apart from the transport.
public enum InProcessLink {
    /// One end: a node's replica and its peer registry (wake-up, clock, counters).
    public struct End: Sendable {
        public let replica: Replica
        public let registry: PeerRegistry
        public init(replica: Replica, registry: PeerRegistry) {
            self.replica = replica
            self.registry = registry
        }
        var id: String { replica.nodeID }
    }

    /// Decides whether a message sent by node `from` is delivered (false drops
    /// it: a partition, a lossy link). Also a tap: tests record what passes.
    public typealias Deliver = @Sendable (_ from: String, _ message: SyncMessage) -> Bool

    /// Runs one session between `a` and `b` until either side closes it (then
    /// the other sees its stream end and closes too) or the task is cancelled.
    /// Each side's registry shows the session as connected while it runs.
    public static func run(_ a: End, _ b: End, logger: Logger, deliver: @escaping Deliver = { _, _ in true }) async throws {
        let (aToB, aSink) = AsyncStream.makeStream(of: SyncMessage.self)
        let (bToA, bSink) = AsyncStream.makeStream(of: SyncMessage.self)
        let runnerA = SessionRunner(replica: a.replica, peerID: b.id, registry: a.registry, logger: logger)
        let runnerB = SessionRunner(replica: b.replica, peerID: a.id, registry: b.registry, logger: logger)
        a.registry.connected(b.id, runnerA)
        b.registry.connected(a.id, runnerB)
        defer {
            a.registry.disconnected(b.id, runnerA)
            b.registry.disconnected(a.id, runnerB)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { aSink.finish() }
                try await runnerA.run(inbound: bToA) { message in if deliver(a.id, message) { aSink.yield(message) } }
            }
            group.addTask {
                defer { bSink.finish() }
                try await runnerB.run(inbound: aToB) { message in if deliver(b.id, message) { bSink.yield(message) } }
            }
            try await group.waitForAll()
        }
    }
}
