import PaxsyncNet
import Clocks
import Testing

@Suite("Log wake-up")
struct LogWakeupTests {
    @Test("a waiter returns once woken, and at once when the wake-up came before it waited")
    func wakes() async {
        let wakeup = LogWakeup()
        let seen = wakeup.current
        async let waited: Void = wakeup.wait(after: seen)
        wakeup.wake()
        await waited
        #expect(wakeup.current == seen + 1)
        // Already rung since `seen`: no wait at all.
        await wakeup.wait(after: seen)
    }

    @Test("every waiter is woken by one wake-up")
    func wakesAll() async {
        let wakeup = LogWakeup()
        let seen = wakeup.current
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<20 { group.addTask { await wakeup.wait(after: seen) } }
            wakeup.wake()
            await group.waitForAll()
        }
    }

    @Test("a cancelled waiter returns without a wake-up")
    func cancellation() async {
        let wakeup = LogWakeup()
        let task = Task { await wakeup.wait(after: wakeup.current) }
        task.cancel()
        await task.value
        #expect(wakeup.current == 0)
    }

    @Test("waiting on several returns when any rings, or when the timeout passes")
    func first() async {
        let a = LogWakeup(), b = LogWakeup()
        let (seenA, seenB) = (a.current, b.current)
        let clock = ContinuousClock()
        async let waited = LogWakeup.first(of: [(a, seenA), (b, seenB)], until: clock.now.advanced(by: .seconds(3600)), clock: clock)
        b.wake()
        #expect(await waited == .woken)
        // Nothing rings: the timeout ends the wait.
        #expect(await LogWakeup.first(of: [(a, a.current), (b, b.current)], until: clock.now.advanced(by: .milliseconds(1)), clock: clock) == .deadline)
    }

    @Test("a bounded wait on a test clock ends exactly when the clock reaches the deadline")
    func testClockDeadline() async {
        let clock = TestClock()
        let a = LogWakeup()
        let deadline = clock.now.advanced(by: .seconds(10))
        async let waited = LogWakeup.first(of: [(a, a.current)], until: deadline, clock: clock)
        // No real time passes: advancing the test clock to the deadline ends the wait.
        await clock.advance(by: .seconds(10))
        #expect(await waited == .deadline)
    }
}
