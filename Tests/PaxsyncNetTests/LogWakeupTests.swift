import PaxsyncNet
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
        async let waited: Void = LogWakeup.first(of: [(a, seenA), (b, seenB)], timeout: .seconds(3600))
        b.wake()
        await waited
        // Nothing rings: the timeout ends the wait.
        await LogWakeup.first(of: [(a, a.current), (b, b.current)], timeout: .milliseconds(1))
    }
}
