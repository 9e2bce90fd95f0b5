import Clocks
import Logging
import PaxsyncDaemon
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("Held-entry retrier")
struct HeldRetrierTests {
    let coalition = TestCoalition()
    let dir = TemporaryDirectory()

    @Test("an entry held for clock skew is released when the test clock reaches its release time, and the sessions are woken once",
          .timeLimit(.minutes(1)))
    func releasesAndWakes() async throws {
        let au = try coalition.replica("AU", in: dir, clock: ManualClock(milliseconds: TestTime.start + 3_600_000))
        try au.commit([Records.facility("AU-FUTURE")])
        let wall = ManualClock(milliseconds: TestTime.start)
        let jp = try coalition.replica("JP", in: dir, clock: wall, maxSkewMilliseconds: 60_000)
        let outcomes = try jp.apply(try au.allEntries())
        #expect(outcomes.map(\.description) == ["held (clock-skew): stamped 2026-11-29T01:00:00.000Z, more than 60 s ahead of this node's clock"])
        // Released once the wall clock is within 60 s of the stamp: 59 minutes from now.
        #expect(try await jp.nextHeldRelease() == TestTime.start + 3_540_000)

        let clock = TestClock()
        let wakeup = LogWakeup(), held = LogWakeup()
        let seen = wakeup.current
        let retrier = HeldRetrier(replica: jp, wakeup: wakeup, held: held, clock: AnyClock(clock),
                                  logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await retrier.run() }
            // Once the retrier sleeps (at most 60 s of clock time, having found the hold
            // not yet due), time passes on both clocks; no real time does.
            while (try? await clock.checkSuspension()) != nil { try await Task.sleep(for: .milliseconds(1)) }
            wall.advance(by: 3_540_000)
            await clock.advance(by: .milliseconds(3_540_000))
            await wakeup.wait(after: seen)
            group.cancelAll()
            try await group.waitForAll()
        }
        #expect(wakeup.current == seen + 1, "one release, one wake-up")
        #expect(try jp.held().isEmpty)
        #expect(try jp.allEntries().map(\.hash) == au.allEntries().map(\.hash))
        #expect(try jp.digest() == au.digest())
    }

    @Test("with nothing held on time, the next release is unknown and the retrier waits for a session's report of new holds")
    func nothingOnTime() async throws {
        let jp = try coalition.replica("JP", in: dir)
        #expect(try await jp.nextHeldRelease() == nil)
    }
}
