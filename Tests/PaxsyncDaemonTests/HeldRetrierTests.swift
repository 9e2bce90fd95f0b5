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

    @Test("an entry held for clock skew is applied once the clock is within the bound, and the sessions are woken once",
          .timeLimit(.minutes(1)))
    func releasesAndWakes() async throws {
        let au = try coalition.replica("AU", in: dir, clock: ManualClock(milliseconds: TestTime.start + 3_600_000))
        try au.commit([Records.facility("AU-FUTURE")])
        let clock = ManualClock(milliseconds: TestTime.start)
        let jp = try coalition.replica("JP", in: dir, clock: clock, maxSkewMilliseconds: 60_000)
        let outcomes = try jp.apply(try au.allEntries())
        #expect(outcomes.map(\.description) == ["held (clock-skew): stamped 2026-11-29T01:00:00.000Z, more than 60 s ahead of this node's clock"])

        let wakeup = LogWakeup()
        let seen = wakeup.current
        let retrier = HeldRetrier(replica: jp, wakeup: wakeup, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await retrier.run() }
            // Within the bound: the retrier's next pass (its first, or the one after) releases the entry.
            clock.advance(by: 3_600_000 - 30_000)
            await wakeup.wait(after: seen)
            group.cancelAll()
            try await group.waitForAll()
        }
        #expect(wakeup.current == seen + 1, "one release, one wake-up")
        #expect(try jp.held().isEmpty)
        #expect(try jp.allEntries().map(\.hash) == au.allEntries().map(\.hash))
        #expect(try jp.digest() == au.digest())
    }

}
