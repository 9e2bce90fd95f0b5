import Foundation
import Logging
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync

/// Drives one `SyncSession` over a pair of message streams.
///
/// One task receives (applies batches, queues acks); the other is the only
/// writer: it flushes queued control messages, then sends what the peer lacks
/// from the local log in bounded batches, then sleeps until the log grows (the
/// node's `LogWakeup`), the peer sends something that needs an answer (the
/// session's own wake-up), or the next heartbeat is due. An idle session does
/// no work between heartbeats.
final class SessionRunner: @unchecked Sendable {
    let replica: Replica
    let peerID: String
    let logger: Logger
    /// The node's peer registry: its wake-up, its observer, and where the
    /// quarantine this peer fills is counted across sessions.
    let registry: PeerRegistry
    var observer: (any SyncObserver)? { registry.observer }
    var wakeup: LogWakeup { registry.wakeup }
    /// Rung when the receiver queued a control message or the state changed.
    let kick = LogWakeup()
    private let lock = NSLock()
    private var machine: SyncSession
    private var outbox: [SyncMessage] = []
    private var stats = PeerStatistics()

    /// The session's counters so far.
    var statistics: PeerStatistics { lock.withLock { stats } }

    init(replica: Replica, peerID: String, registry: PeerRegistry, logger: Logger) {
        self.replica = replica
        self.registry = registry
        self.peerID = peerID
        var logger = logger
        logger[metadataKey: "peer"] = "\(peerID)"
        self.logger = logger
        self.machine = SyncSession(localNodeID: replica.nodeID, certifiedPeerID: peerID,
                                   members: replica.memberIDs, now: Self.now())
    }

    static func now() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    private func withMachine<T>(_ body: (inout SyncSession) -> T) -> T {
        lock.withLock { body(&machine) }
    }

    /// What the peer announced it holds, updated by its acks.
    var peerVersionVector: VersionVector { withMachine { $0.peerVersionVector } }

    /// Why the peer was refused, when it was (see `SyncSession.refusal`).
    var refusal: String? { withMachine { $0.refusal } }

    var closedReason: String? {
        withMachine { m in if case .closed(let reason) = m.state { reason } else { nil } }
    }

    /// Performs actions; returns entries to apply, if any.
    private func perform(_ actions: [SyncSession.Action]) -> [RawEntry]? {
        var apply: [RawEntry]?
        for action in actions {
            switch action {
            case .send(let message): lock.withLock { outbox.append(message) }
            case .apply(let entries): apply = entries
            case .close(let reason, let notify):
                logger.info("sync session closing", metadata: ["reason": "\(reason)"])
                if notify { lock.withLock { outbox.append(.goodbye(reason: reason)) } }
            }
        }
        if !actions.isEmpty { kick.wake() }
        return apply
    }

    /// Runs until the session closes, the inbound stream ends, or the task is cancelled.
    func run<Inbound: AsyncSequence>(inbound: Inbound, send: @escaping @Sendable (SyncMessage) async throws -> Void) async throws
    where Inbound.Element == SyncMessage {
        try await start()
        // Iterated by exactly one child task.
        let box = UncheckedTransfer(inbound)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.receiveLoop(box.value) }
            group.addTask { try await self.sendLoop(send) }
            // Whichever ends first ends the session.
            _ = try await group.next()
            group.cancelAll()
        }
    }

    /// Ends the session from this side (shutdown): the writer sends a goodbye and stops.
    func stop(_ reason: String) {
        _ = perform(withMachine { $0.stop(reason) })
    }

    /// Queues the hello (or the refusal of a peer not in the roster).
    func start() async throws {
        let vv = try await replica.versionVectorAsync()
        _ = perform(withMachine { $0.start(localVersionVector: vv, now: Self.now()) })
        lock.withLock {
            stats.connected = true
            stats.since = Date()
        }
    }

    /// Receives until the stream ends or the session closes, applying each batch
    /// in order before reading the next (HTTP/2 flow control holds the sender).
    func receiveLoop<Inbound: AsyncSequence>(_ inbound: Inbound) async throws where Inbound.Element == SyncMessage {
        for try await message in inbound {
            lock.withLock { stats.lastContact = Date() }
            if case .entries(let entries, _) = message {
                lock.withLock {
                    stats.entriesIn += entries.count
                    stats.bytesIn += entries.reduce(0) { $0 + $1.byteCount }
                }
            }
            let wasSyncing = withMachine { $0.state == .syncing }
            let batch = perform(withMachine { $0.received(message, now: Self.now()) })
            if !wasSyncing { kick.wake() }   // the hello: the sender may start
            guard let batch else {
                if closedReason != nil { return }
                continue
            }
            // Decoding and signature checks happen here, off the database's writer.
            let prepared = replica.prepareReceived(batch.map { ($0.body, $0.signature) })
            try await apply(prepared, bytes: batch.reduce(0) { $0 + $1.byteCount })
            if closedReason != nil { return }
        }
        _ = perform(withMachine { $0.stop("peer \(peerID) closed the stream") })
    }

    /// Applies one prepared batch, records it, and queues the ack.
    private func apply(_ prepared: PreparedBatch, bytes: Int) async throws {
        let began = DispatchTime.now().uptimeNanoseconds
        let result = try await replica.applyPrepared(prepared, quarantineBudget: withMachine { $0.quarantineBudget })
        if result.quarantined > 0 { registry.quarantined(from: peerID, entries: result.quarantined, bytes: result.quarantinedBytes) }
        observer?.received(result, entries: prepared.count, bytes: bytes, peer: peerID,
                          nanoseconds: DispatchTime.now().uptimeNanoseconds - began)
        // Relay at once: other sessions send what just landed.
        if result.applied > 0 { wakeup.wake() }
        if result.quarantined > 0 || result.equivocations > 0 {
            logger.warning("entries from peer rejected", metadata: [
                "quarantined": "\(result.quarantined)", "equivocations": "\(result.equivocations)"])
        }
        let vv = try await replica.versionVectorAsync()
        _ = perform(withMachine { $0.applied(quarantined: result.quarantined, localVersionVector: vv, now: Self.now()) })
    }

    /// The only writer of the session: returns after sending a goodbye or when the session closed.
    func sendLoop(_ send: @Sendable (SyncMessage) async throws -> Void) async throws {
        var cursor: Int64?
        var caughtUpSent = false
        while true {
            // Control messages first (hello, acks, heartbeats, goodbye).
            let pending: [SyncMessage] = lock.withLock { defer { outbox.removeAll() }; return outbox }
            for message in pending {
                try await send(message)
                withMachine { $0.sent(now: Self.now()) }
                if case .goodbye = message { return }
            }
            if closedReason != nil { return }
            let seen = wakeup.current
            let kicked = kick.current
            let syncing = withMachine { $0.state == .syncing }
            guard syncing else {
                // Waiting for the hello: a peer silent for three heartbeat intervals is dropped.
                _ = perform(withMachine { $0.tick(now: Self.now()) })
                await idle(seen: seen, kicked: kicked)
                try Task.checkCancellation()
                continue
            }
            if cursor == nil {
                let peerVV = withMachine { $0.peerVersionVector }
                cursor = try await replica.catchUpStart(for: peerVV)
            }
            let rows = try await replica.logEntries(after: cursor!, limit: SyncProtocol.maxBatchEntries)
            var candidates: [(id: EntryID, entry: RawEntry)] = []
            var bytes = 0
            for row in rows {
                if bytes + row.body.count > SyncProtocol.maxBatchBytes && !candidates.isEmpty { break }
                candidates.append((row.id, RawEntry(id: row.id, body: row.body, signature: row.signature)))
                bytes += row.body.count + row.signature.count
                cursor = row.position
            }
            let selected = withMachine { $0.select(candidates) }
            if !selected.isEmpty || (!caughtUpSent && candidates.isEmpty) {
                let caughtUp = candidates.count < rows.count ? false : rows.count < SyncProtocol.maxBatchEntries
                try await send(.entries(selected, caughtUp: caughtUp))
                if caughtUp { caughtUpSent = true }
                let bytes = selected.reduce(0) { $0 + $1.byteCount }
                lock.withLock {
                    stats.entriesOut += selected.count
                    stats.bytesOut += bytes
                }
                observer?.traffic(peer: peerID, direction: .outbound, entries: selected.count, bytes: bytes)
                withMachine { $0.sent(now: Self.now()) }
                continue
            }
            if !candidates.isEmpty { continue }
            // Idle: heartbeat if due, then sleep until something happens.
            _ = perform(withMachine { $0.tick(now: Self.now()) })
            await idle(seen: seen, kicked: kicked)
            try Task.checkCancellation()
        }
    }

    /// Sleeps until the log grows after `seen`, the session is kicked after
    /// `kicked`, or the session's next deadline (heartbeat, silence) passes.
    private func idle(seen: UInt64, kicked: UInt64) async {
        guard let deadline = withMachine({ $0.nextDeadlineMilliseconds }) else { return }
        let now = Self.now()
        let wait = deadline > now ? deadline - now : 0
        guard wait > 0 else { return }
        await LogWakeup.first(of: [(wakeup, seen), (kick, kicked)], timeout: .milliseconds(Int64(wait)))
    }
}

/// Moves a value that only one task will use into a child task.
struct UncheckedTransfer<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
