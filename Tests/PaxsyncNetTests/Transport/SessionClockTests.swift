import Clocks
import GRDB
import Logging
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore
import PaxsyncSync
import PaxsyncTestSupport
import Synchronization
import Testing

/// The session runner's timing, driven by a test clock over the in-process
/// link: no sockets, no real time passes, every deadline is exact.
@Suite("Session timing on a test clock", .timeLimit(.minutes(1)))
struct SessionClockTests {
    let dir = TemporaryDirectory("paxsync-session-clock")
    let coalition = TestCoalition(["AU", "JP"])

    /// What the link carried, in order, from each side.
    struct Sent: Sendable {
        let from: String
        let message: SyncMessage
    }

    /// Two nodes on one test clock, an in-process session between them, and a tap.
    final class Pair: Sendable {
        /// Every advance goes through the driver (see `ClockDriver` for why).
        let driver = ClockDriver()
        var clock: TestClock<Duration> { driver.clock }
        let au: InProcessLink.End
        let jp: InProcessLink.End
        let sent: AsyncStream<Sent>
        let sink: AsyncStream<Sent>.Continuation
        /// While true, nothing JP sends reaches AU.
        let partitioned = Mutex(false)

        init(_ test: SessionClockTests) throws {
            au = .init(replica: try test.coalition.replica("AU", in: test.dir), registry: PeerRegistry(clock: AnyClock(driver.clock)))
            jp = .init(replica: try test.coalition.replica("JP", in: test.dir), registry: PeerRegistry(clock: AnyClock(driver.clock)))
            // Before the session starts, so JP's first batch carries it.
            try jp.replica.commit([Records.facility("JP-A", country: "JP")])
            (sent, sink) = AsyncStream.makeStream(of: Sent.self)
        }

        func run() -> Task<Void, any Error> {
            var logger = Logger(label: "test.session-clock")
            logger.logLevel = .critical
            return Task { [self] in
                defer { sink.finish() }
                try await InProcessLink.run(au, jp, logger: logger) { from, message in
                    self.sink.yield(Sent(from: from, message: message))
                    return !(from == "JP" && self.partitioned.withLock { $0 })
                }
            }
        }
    }

    /// Reads the tap until `done` says so; returns what it read.
    func read(_ tap: inout AsyncStream<Sent>.Iterator, until done: ([Sent]) -> Bool) async throws -> [Sent] {
        var seen: [Sent] = []
        while !done(seen) {
            let next = await tap.next()
            seen.append(try #require(next, "the link ended after \(seen.map { "\($0.from) \($0.message.kind)" })"))
        }
        return seen
    }

    /// Waits for the opening exchange (JP holds one entry) to end with AU's ack
    /// of it: by then AU has handled everything JP sent, and both sides last
    /// sent at 0 ms on the test clock.
    func converge(_ pair: Pair, _ tap: inout AsyncStream<Sent>.Iterator) async throws {
        let opening = try await read(&tap) { seen in
            seen.contains { if $0.from == "AU", case .ack = $0.message { true } else { false } }
        }
        #expect(opening.filter { $0.from == "JP" }.map(\.message.kind) == ["hello", "entries"])
        #expect(try pair.au.replica.logCount() == 1)
    }

    @Test("an idle session heartbeats at exactly 5 s of clock time, from both sides, and sends nothing else")
    func heartbeats() async throws {
        let pair = try Pair(self)
        var tap = pair.sent.makeAsyncIterator()
        let link = pair.run()
        defer { link.cancel() }
        try await converge(pair, &tap)

        await pair.driver.advance(by: .milliseconds(4_999))
        await pair.driver.advance(by: .milliseconds(1))
        let next = try await read(&tap) { $0.count == 2 }
        #expect(Set(next.map(\.from)) == ["AU", "JP"])
        for sent in next {
            #expect(sent.message == .heartbeat(sentAtMilliseconds: 5_000), "\(sent.from) sent \(sent.message)")
        }
        // And again one interval later.
        await pair.driver.advance(by: .seconds(5))
        for sent in try await read(&tap, until: { $0.count == 2 }) {
            #expect(sent.message == .heartbeat(sentAtMilliseconds: 10_000), "\(sent.from) sent \(sent.message)")
        }
    }

    @Test("a side with nothing to send sends one empty batch with caught_up set, and no one acks an empty batch")
    func emptyCaughtUpBatch() async throws {
        let pair = try Pair(self)
        var tap = pair.sent.makeAsyncIterator()
        let link = pair.run()
        defer { link.cancel() }
        func batches(_ sent: [Sent], from node: String) -> [(entries: Int, caughtUp: Bool)] {
            sent.filter { $0.from == node }.compactMap { sent -> (entries: Int, caughtUp: Bool)? in
                guard case .entries(let entries, let caughtUp) = sent.message else { return nil }
                return (entries.count, caughtUp)
            }
        }
        // AU holds nothing, JP one entry: AU's catch-up is one empty batch, JP's one batch of one.
        let opening = try await read(&tap) { seen in
            !batches(seen, from: "AU").isEmpty && seen.contains { $0.from == "AU" && $0.message.kind == "ack" }
        }
        #expect(batches(opening, from: "AU").map { "\($0.entries) \($0.caughtUp)" } == ["0 true"])
        #expect(batches(opening, from: "JP").map { "\($0.entries) \($0.caughtUp)" } == ["1 true"])
        // Then nothing but the heartbeats at 5 s: JP did not ack the empty batch, AU sent no second one.
        await pair.driver.advance(by: .seconds(5))
        let rest = try await read(&tap) { seen in seen.filter { $0.message.kind == "heartbeat" }.count == 2 }
        let all = opening + rest
        #expect(!all.contains { $0.from == "JP" && $0.message.kind == "ack" }, "\(all.map { "\($0.from) \($0.message.kind)" })")
        #expect(rest.allSatisfy { $0.message.kind == "heartbeat" }, "\(rest.map { "\($0.from) \($0.message.kind)" })")
    }

    @Test("a peer silent for three heartbeat intervals is dropped at exactly 15 s, with a goodbye naming why")
    func silence() async throws {
        let pair = try Pair(self)
        var tap = pair.sent.makeAsyncIterator()
        let link = pair.run()
        defer { link.cancel() }
        try await converge(pair, &tap)
        pair.partitioned.withLock { $0 = true }

        for at in [5_000, 10_000] as [UInt64] {
            await pair.driver.advance(by: .seconds(5))
            let beats = try await read(&tap) { $0.count == 2 }
            #expect(beats.allSatisfy { $0.message == .heartbeat(sentAtMilliseconds: at) })
        }
        await pair.driver.advance(by: .seconds(5))
        let last = try await read(&tap) { seen in seen.contains { $0.from == "AU" } }
        let goodbye = try #require(last.first { $0.from == "AU" })
        guard case .goodbye(let reason) = goodbye.message else {
            Issue.record("AU sent \(goodbye.message) at 15 s, not a goodbye")
            return
        }
        #expect(reason == "peer JP silent for 15 s")
        // Both sides end; AU's registry keeps why.
        try await link.value
        #expect(pair.au.registry.lastError("JP") == "peer JP silent for 15 s")
        #expect(pair.au.registry.connectedPeers.isEmpty)
    }

    @Test("a write that rings the node's wake-up goes out at once, without the clock moving")
    func wakeupSendsAtOnce() async throws {
        let pair = try Pair(self)
        var tap = pair.sent.makeAsyncIterator()
        let link = pair.run()
        defer { link.cancel() }
        try await converge(pair, &tap)

        try pair.au.replica.commit([Records.facility("AU-B")])
        pair.au.registry.wakeup.wake()
        let next = try await read(&tap) { $0.count == 1 }
        guard case .entries(let entries, let caughtUp) = next[0].message else {
            Issue.record("AU sent \(next[0].message) after a wake-up, not entries")
            return
        }
        #expect(next[0].from == "AU")
        #expect(entries.map { $0.id?.description } == ["AU:1"])
        #expect(caughtUp)
    }
}

/// A batch that cannot be applied (a full disk, here a trigger refusing the log row)
/// ends the session at once, so the peer sends it again in the next one: the
/// session must not wait for more batches while the failed one is lost.
@Suite("Session: a failed apply ends the session", .timeLimit(.minutes(1)))
struct FailedApplyTests {
    let dir = TemporaryDirectory("paxsync-failed-apply")
    let coalition = TestCoalition(["AU", "JP"])

    @Test("AU's apply of JP's batch fails: the session ends with that error, and the next session delivers the batch")
    func failedApplyEndsSession() async throws {
        let au = try coalition.replica("AU", in: dir), jp = try coalition.replica("JP", in: dir)
        try jp.commit([Records.facility("JP-A", country: "JP")])
        try await DatabaseQueue(path: au.path).write { db in
            try db.execute(sql: "CREATE TRIGGER refuse BEFORE INSERT ON paxsync_log BEGIN SELECT RAISE(ABORT, 'injected write failure'); END")
        }
        var logger = Logger(label: "test.failed-apply")
        logger.logLevel = .critical
        let ends = (InProcessLink.End(replica: au, registry: PeerRegistry()), InProcessLink.End(replica: jp, registry: PeerRegistry()))
        await #expect { try await InProcessLink.run(ends.0, ends.1, logger: logger) } throws: { error in
            "\(error)".contains("injected write failure")
        }
        #expect(try au.logCount() == 0)
        // The disk has room again: a new session brings the entry.
        try await DatabaseQueue(path: au.path).write { try $0.execute(sql: "DROP TRIGGER refuse") }
        let session = Task { try await InProcessLink.run(ends.0, ends.1, logger: logger) }
        try await eventually("AU holds JP's entry") { try au.logCount() == 1 }
        // The session ends before the test's directory goes.
        session.cancel()
        _ = await session.result
    }
}
