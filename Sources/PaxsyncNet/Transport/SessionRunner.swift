import AsyncAlgorithms
import Clocks
import Foundation
import Logging
import PaxsyncModel
import PaxsyncStore
import PaxsyncSync
import Synchronization

/// Drives one `SyncSession` over a pair of message streams.
///
/// Three parts, all structured under the session's task:
/// - the receiver applies each batch that arrives, in order, and feeds the
///   state machine; what the machine wants sent goes into the writer's event
///   stream;
/// - the writer is the session's only sender: it consumes that stream (control
///   messages, "the log grew", "a deadline passed", "more to send") and sends
///   what the peer lacks from the local log in bounded batches;
/// - two watchers turn the node's log wake-up and the machine's next deadline
///   (heartbeat, silence) into writer events, sleeping on the session's clock;
///   a deadline also makes the writer look at the log, so a write that rang no
///   wake-up still goes out within a heartbeat interval.
///
/// An idle session does no work between heartbeats. Time comes from an
/// injected clock, so tests drive heartbeats and timeouts with a test clock.
final class SessionRunner: Sendable {
    let replica: Replica
    let peerID: String
    let logger: Logger
    /// The node's peer registry: its wake-up, its observer, its clock, and where
    /// the quarantine this peer fills is counted across sessions.
    let registry: PeerRegistry
    var observer: (any SyncObserver)? { registry.observer }
    var wakeup: LogWakeup { registry.wakeup }
    let clock: AnyClock<Duration>
    private let epoch: AnyClock<Duration>.Instant

    /// What the writer acts on, in arrival order.
    enum WriterEvent: Sendable {
        /// A control message the machine wants sent (hello, ack, heartbeat, goodbye).
        case control(SyncMessage)
        /// The local log grew, or the peer's hello arrived: look for entries to send.
        case logGrew
        /// The machine's next deadline passed: tick it.
        case deadline
        /// The last batch did not exhaust what the peer lacks.
        case more
    }

    private struct State {
        var machine: SyncSession
        var stats = PeerStatistics()
        /// A `.logGrew` / `.deadline` is queued and not yet handled (they coalesce).
        var logGrewQueued = false
        var deadlineQueued = false
        /// The deadline the watcher sleeps until; nil while it waits for a change
        /// (none due, or the last one already queued).
        var armedDeadline: UInt64?
        /// This node's local writes are paused awaiting its own entries back
        /// (`Replica.confirmOwnHead`): check again after each applied batch.
        var awaitingOwnEntries = false
    }

    private let state: Mutex<State>
    private let events: AsyncStream<WriterEvent>
    private let sink: AsyncStream<WriterEvent>.Continuation
    /// Rung when the machine's next deadline moved before the one the deadline
    /// watcher sleeps until (`deadlineMayHaveMoved`); the watcher recomputes.
    private let changed = LogWakeup()

    init(replica: Replica, peerID: String, registry: PeerRegistry, logger: Logger) {
        self.replica = replica
        self.registry = registry
        self.peerID = peerID
        self.clock = registry.clock
        self.epoch = registry.clock.now
        var logger = logger
        logger[metadataKey: "peer"] = "\(peerID)"
        self.logger = logger
        self.state = Mutex(State(machine: SyncSession(localNodeID: replica.nodeID, certifiedPeerID: peerID,
                                                      members: replica.memberIDs, now: 0,
                                                      relayDelayMilliseconds: registry.relayDelayMilliseconds,
                                                      advertiseIntervalMilliseconds: registry.advertiseIntervalMilliseconds,
                                                      coalitionID: registry.coalitionID)))
        (events, sink) = AsyncStream.makeStream(of: WriterEvent.self)
    }

    /// Milliseconds on the session's clock since the session began.
    func now() -> UInt64 {
        let elapsed = epoch.duration(to: clock.now)
        return UInt64(max(0, elapsed.components.seconds)) * 1000 + UInt64(max(0, elapsed.components.attoseconds)) / 1_000_000_000_000_000
    }

    private func withMachine<T>(_ body: (inout SyncSession) -> T) -> T {
        state.withLock { body(&$0.machine) }
    }

    /// The session's counters so far.
    var statistics: PeerStatistics { state.withLock { $0.stats } }

    /// What the peer announced it holds, updated by its acks.
    var peerVersionVector: VersionVector { withMachine { $0.peerVersionVector } }

    /// Why the peer was refused, when it was (see `SyncSession.refusal`).
    var refusal: String? { withMachine { $0.refusal } }

    var closedReason: String? {
        withMachine { m in if case .closed(let reason) = m.state { reason } else { nil } }
    }

    /// Hands the machine's actions to the writer; returns entries to apply, if any.
    private func perform(_ actions: [SyncSession.Action]) -> [RawEntry]? {
        var apply: [RawEntry]?
        for action in actions {
            switch action {
            case .send(let message): sink.yield(.control(message))
            case .apply(let entries): apply = entries
            case .close(let reason, let notify):
                logger.info("sync session closing", metadata: ["reason": "\(reason)"])
                if notify { sink.yield(.control(.goodbye(reason: reason))) }
                // Nothing follows a close: the writer ends once it has sent what is queued.
                sink.finish()
            }
        }
        if !actions.isEmpty { deadlineMayHaveMoved() }
        return apply
    }

    /// Queues `.logGrew` unless one is already waiting.
    private func logGrew() {
        if state.withLock({ s in defer { s.logGrewQueued = true }; return !s.logGrewQueued }) { sink.yield(.logGrew) }
    }

    /// Runs until the session closes, the inbound stream ends, or the task is
    /// cancelled. The writer has the last word: a goodbye queued by a close
    /// (refusal, silence, the peer's stream ending) is sent before this returns.
    func run<Inbound: AsyncSequence>(inbound: Inbound, send: @escaping @Sendable (SyncMessage) async throws -> Void) async throws
    where Inbound.Element == SyncMessage, Inbound: SendableMetatype {
        try await start()
        // Iterated by exactly one child task.
        let box = UncheckedTransfer(inbound)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await self.receiveLoop(box.value)
                } catch where !(error is CancellationError) {
                    self.stop("receiving from peer \(self.peerID) failed: \(error)")
                    throw error
                }
            }
            try await self.sendLoop(send)
            group.cancelAll()
            // A receive failure is the session's error.
            while let _ = try await group.next() {}
        }
    }

    /// Ends the session from this side (shutdown): the writer sends a goodbye and stops.
    func stop(_ reason: String) {
        _ = perform(withMachine { $0.stop(reason) })
    }

    /// Queues the hello (or the refusal of a peer not in the roster).
    func start() async throws {
        let vv = try await replica.versionVectorAsync()
        let now = now()
        _ = perform(withMachine { $0.start(localVersionVector: vv, now: now) })
        state.withLock {
            $0.stats.connected = true
            $0.stats.since = Date()
        }
    }

    /// Receives until the stream ends or the session closes, applying the batches
    /// in order and reading at most one ahead of the one being applied (HTTP/2
    /// flow control holds the sender).
    ///
    /// A reader and an applier, one batch handed between them at a time: the
    /// reader decodes and checks the next batch while the applier applies the
    /// last (PROTOCOL §13.2). Either one failing ends both at once: a batch that
    /// could not be applied (a full disk) ends the session, so the peer sends it
    /// again in the next one.
    func receiveLoop<Inbound: AsyncSequence>(_ inbound: Inbound) async throws
    where Inbound.Element == SyncMessage, Inbound: SendableMetatype {
        let batches = AsyncChannel<ReceivedBatch>()
        // Iterated by exactly one child task.
        let box = UncheckedTransfer(inbound)
        let streamEnded = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await batch in batches {
                    try await self.apply(batch.prepared, bytes: batch.bytes)
                }
                return false
            }
            group.addTask {
                defer { batches.finish() }
                return try await self.receive(box.value, into: batches)
            }
            var ended = false
            while let result = try await group.next() { ended = ended || result }
            return ended
        }
        if streamEnded { stop("peer \(peerID) closed the stream") }
    }

    private struct ReceivedBatch: Sendable {
        let prepared: PreparedBatch
        let bytes: Int
    }

    /// Reads messages and hands each batch, decoded and checked, to the applier;
    /// returns whether the inbound stream ended (rather than the session closing).
    private func receive<Inbound: AsyncSequence>(_ inbound: Inbound, into batches: AsyncChannel<ReceivedBatch>) async throws -> Bool
    where Inbound.Element == SyncMessage {
        for try await message in inbound {
            state.withLock { s in
                s.stats.lastContact = Date()
                if case .entries(let entries, _) = message {
                    s.stats.entriesIn += entries.count
                    s.stats.bytesIn += entries.reduce(0) { $0 + $1.byteCount }
                }
                if case .heartbeat(_, .some) = message { s.stats.advertisementsIn += 1 }
            }
            let now = now()
            let (wasSyncing, actions) = withMachine { m in (m.state == .syncing, m.received(message, now: now)) }
            let batch = perform(actions)
            if !wasSyncing && withMachine({ $0.state == .syncing }) {   // the hello: the writer may start
                logGrew()
                try await confirmOwnHead(peerHolds: peerVersionVector[replica.nodeID])
            }
            deadlineMayHaveMoved()   // the hello starts the heartbeat
            guard let batch else {
                if closedReason != nil { return false }
                continue
            }
            // Decoding, signature and structure checks happen here, off the database's
            // writer, while the previous batch is being applied; the hand-off waits for it.
            let prepared = replica.prepareReceived(batch.map { ($0.body, $0.signature) })
            await batches.send(ReceivedBatch(prepared: prepared, bytes: batch.reduce(0) { $0 + $1.byteCount }))
            try Task.checkCancellation()
            if closedReason != nil { return false }
        }
        return true
    }

    /// Tells the replica what the peer holds of this node's own entries, which
    /// lifts a pause of local writes (a restore, the daemon's start) once no peer
    /// holds more than the replica (see `LocalWritePause`).
    private func confirmOwnHead(peerHolds: UInt64) async throws {
        let own = replica.nodeID
        switch try await replica.confirmOwnHead(peerHolds: peerHolds) {
        case .notPaused, .standby:
            state.withLock { $0.awaitingOwnEntries = false }
        case .confirmed(let head):
            state.withLock { $0.awaitingOwnEntries = false }
            logger.notice("local writes resumed: peer \(peerID) holds no entry of \(own) beyond this replica's head \(own):\(head)")
        case .awaiting(let seq, let head):
            let first = !state.withLock { s in defer { s.awaitingOwnEntries = true }; return s.awaitingOwnEntries }
            if first {
                logger.warning("local writes stay paused: a peer holds \(own)'s entries up to \(own):\(seq), this replica up to \(own):\(head); waiting for them to come back")
            }
        }
    }

    /// Applies one prepared batch, records it, and queues the ack.
    private func apply(_ prepared: PreparedBatch, bytes: Int) async throws {
        let began = DispatchTime.now().uptimeNanoseconds
        let result = try await replica.applyPrepared(prepared, quarantineBudget: withMachine { $0.quarantineBudget })
        if result.quarantined > 0 { registry.quarantined(from: peerID, entries: result.quarantined, bytes: result.quarantinedBytes) }
        observer?.received(result, entries: prepared.count, bytes: bytes, peer: peerID,
                          nanoseconds: DispatchTime.now().uptimeNanoseconds - began)
        let vv = if let committed = result.versionVector { committed } else { try await replica.versionVectorAsync() }
        if result.applied > 0 {
            // Other sessions send what just landed (to a peer that may lack it:
            // PROTOCOL §13.6) and advertise that this node holds it, so their
            // peers relay none of it here.
            registry.holds(vv)
            wakeup.wake()
        }
        if result.held > 0 { registry.heldWakeup.wake() }
        if result.quarantined > 0 || result.equivocations > 0 {
            logger.warning("entries from peer rejected", metadata: [
                "quarantined": "\(result.quarantined)", "equivocations": "\(result.equivocations)"])
        }
        if result.applied > 0 && state.withLock({ $0.awaitingOwnEntries }) { try await confirmOwnHead(peerHolds: 0) }
        let now = now()
        _ = perform(withMachine { $0.applied(quarantined: result.quarantined, localVersionVector: vv, now: now) })
    }

    /// The only writer of the session: returns after sending a goodbye, or once
    /// the session closed and everything queued before the close is sent.
    func sendLoop(_ send: @escaping @Sendable (SyncMessage) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchLog() }
            group.addTask { try await self.watchDeadlines() }
            defer { group.cancelAll() }
            try await write(send)
        }
    }

    private func write(_ send: (SyncMessage) async throws -> Void) async throws {
        var cursor: Int64?
        // Entries read past the cursor and not consumed yet (relays waiting, in
        // log order): kept, so each look at the log reads only what is new,
        // not again every entry still waiting. Dropped when an entry was marked
        // superseded meanwhile (their marks may be stale).
        var pending: [LoggedEntry] = []
        var supersededCount: Int?
        var caughtUpSent = false
        for await event in events {
            try Task.checkCancellation()
            switch event {
            case .control(let message):
                // A message counts as sent when its sending began.
                let now = now()
                try await send(message)
                withMachine { $0.sent(now: now) }
                deadlineMayHaveMoved()
                if case .goodbye = message { return }
                continue
            case .deadline:
                state.withLock { $0.deadlineQueued = false }
                let now = now()
                _ = perform(withMachine { $0.tick(now: now) })
                deadlineMayHaveMoved()
                // Then look at the log too: a write that rang no wake-up (another
                // process's, when the admin socket was down) goes out by the next heartbeat.
            case .logGrew:
                state.withLock { $0.logGrewQueued = false }
            case .more:
                break
            }
            guard withMachine({ $0.state == .syncing }) else { continue }
            if cursor == nil {
                cursor = try await replica.catchUpStart(for: peerVersionVector)
            }
            var tail = try await replica.logTail(after: pending.last?.position ?? cursor!, limit: SyncProtocol.maxBatchEntries - pending.count)
            if tail.supersededCount != supersededCount && !pending.isEmpty {
                pending = []
                tail = try await replica.logTail(after: cursor!, limit: SyncProtocol.maxBatchEntries)
            }
            supersededCount = tail.supersededCount
            pending += tail.entries
            let rows = pending
            var candidates: [(id: EntryID, entry: RawEntry)] = []
            var positions: [Int64] = []
            var bytes = 0
            for row in rows {
                if bytes + row.body.count > SyncProtocol.maxBatchBytes && !candidates.isEmpty { break }
                candidates.append((row.id, RawEntry(id: row.id, body: row.body, signature: row.signature, superseded: row.superseded)))
                positions.append(row.position)
                bytes += row.body.count + row.signature.count
            }
            // Entries of third members wait a little once caught up (PROTOCOL §13.6):
            // the peer may get them from their origin first and advertise it.
            let selection = withMachine { [now = now()] in $0.select(candidates, now: now, relay: caughtUpSent) }
            let selected = selection.entries
            if selection.consumed > 0 {
                cursor = positions[selection.consumed - 1]
                pending.removeFirst(selection.consumed)
            }
            if selection.heldBack > 0 { deadlineMayHaveMoved() }   // the relay deadline moved
            let more = selection.heldBack == 0 && (candidates.count < rows.count || rows.count == SyncProtocol.maxBatchEntries)
            if !selected.isEmpty || (!caughtUpSent && !more) {
                let now = now()
                try await send(.entries(selected, caughtUp: !more && selection.heldBack == 0))
                if !more { caughtUpSent = true }
                let bytes = selected.reduce(0) { $0 + $1.byteCount }
                state.withLock {
                    $0.stats.entriesOut += selected.count
                    $0.stats.bytesOut += bytes
                }
                observer?.traffic(peer: peerID, direction: .outbound, entries: selected.count, bytes: bytes)
                withMachine { $0.sent(now: now) }
                deadlineMayHaveMoved()
            }
            // Tell the peer what this node got from others, so it relays none of it here.
            // At most one per interval: one held back moves the machine's deadline.
            if caughtUpSent {
                let (advert, deadline) = withMachine { [now = now(), held = registry.heldVersionVector] in
                    ($0.advertisement(localVersionVector: held, now: now), $0.advertiseDeadlineMilliseconds)
                }
                if let advert {
                    try await send(advert)
                    state.withLock { $0.stats.advertisementsOut += 1 }
                }
                if advert != nil || deadline != nil { deadlineMayHaveMoved() }
            }
            // Queued behind any control message that arrived meanwhile, so acks are not starved.
            if more { sink.yield(.more) }
        }
        // The stream finished: the session closed without a goodbye to send.
    }

    /// Turns the node's log wake-ups into `.logGrew` events.
    private func watchLog() async {
        var seen = wakeup.current
        while !Task.isCancelled {
            await wakeup.wait(after: seen)
            seen = wakeup.current
            if !Task.isCancelled { logGrew() }
        }
    }

    /// Rings the deadline watcher if the machine's next deadline is now before
    /// the one it sleeps until (or it sleeps until none). Most changes move
    /// deadlines later — a message heard or sent pushes back the silence and
    /// heartbeat deadlines — and need no wake-up: the watcher finds, when its
    /// sleep ends, that nothing is due yet and sleeps on. So a session re-arms
    /// no timer per message.
    private func deadlineMayHaveMoved() {
        let ring = state.withLock { s in
            guard let armed = s.armedDeadline, let next = s.machine.nextDeadlineMilliseconds else { return true }
            return next < armed
        }
        if ring { changed.wake() }
    }

    /// Sleeps on the session's clock until the machine's next deadline, then
    /// queues `.deadline` if it is due; woken earlier when the deadline moves
    /// earlier (`deadlineMayHaveMoved`).
    private func watchDeadlines() async throws {
        var fired: UInt64?
        while !Task.isCancelled {
            let seen = changed.current
            // Read and armed in one step with the machine, so a change made after
            // the read sees what the watcher sleeps until, and rings if it is earlier.
            let deadline: UInt64? = state.withLock { s in
                let next = s.machine.nextDeadlineMilliseconds
                s.armedDeadline = next == fired ? nil : next
                return next
            }
            guard let deadline else { return }
            if deadline == fired {
                // Already queued for this deadline: wait until the machine moves it.
                await changed.wait(after: seen)
                continue
            }
            let at = epoch.advanced(by: .milliseconds(Int64(deadline)))
            guard await LogWakeup.first(of: [(changed, seen)], until: at, clock: clock) == .deadline else { continue }
            // Moved later meanwhile (a message heard or sent): nothing is due yet.
            if let next = withMachine({ $0.nextDeadlineMilliseconds }), next > deadline { continue }
            fired = deadline
            if state.withLock({ s in defer { s.deadlineQueued = true }; return !s.deadlineQueued }) { sink.yield(.deadline) }
        }
    }
}

/// Moves a value that only one task will use into a child task.
struct UncheckedTransfer<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
