import Clocks
import Synchronization

/// Moves a swift-clocks `TestClock` from one task only.
///
/// Two properties of `TestClock` make it unsafe to advance from more than one
/// task, or to advance once and expect every sleeper to wake:
/// - a sleep registered for exactly the clock's current time is suspended
///   until the clock next advances, so a sleeper that registers just after an
///   advance to its deadline waits for ever;
/// - `advance` yields between reading the target time and setting it, so two
///   concurrent advances can move the clock backwards.
///
/// The driver runs every advance the test asks for, one at a time, and in
/// between advances the clock by zero every few milliseconds of real time:
/// that releases sleepers registered at exactly the current time without
/// moving it.
public final class ClockDriver: Sendable {
    public let clock: TestClock<Duration>
    private final class Pending: Sendable {
        struct State {
            var advances: [(Duration, CheckedContinuation<Void, Never>)] = []
            var stopped = false
        }
        let state = Mutex(State())
    }
    private let pending = Pending()
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    public init(_ clock: TestClock<Duration> = TestClock()) {
        self.clock = clock
        let driver = Task { [clock, pending] in
            while !Task.isCancelled {
                let next = pending.state.withLock { $0.advances.isEmpty ? nil : $0.advances.removeFirst() }
                if let (duration, done) = next {
                    await clock.advance(by: duration)
                    done.resume()
                    continue
                }
                await clock.advance(by: .zero)
                try? await Task.sleep(for: .milliseconds(2))
            }
            // Nobody waits on a stopped driver.
            let left = pending.state.withLock { p in
                p.stopped = true
                defer { p.advances.removeAll() }
                return p.advances
            }
            for (_, done) in left { done.resume() }
        }
        task.withLock { $0 = driver }
    }

    deinit { task.withLock { $0?.cancel() } }

    /// Advances the clock by `duration` and returns once it has.
    public func advance(by duration: Duration) async {
        await withCheckedContinuation { done in
            let stopped = pending.state.withLock { p in
                if !p.stopped { p.advances.append((duration, done)) }
                return p.stopped
            }
            if stopped { done.resume() }
        }
    }

    /// Stops the driver; advances asked for afterwards return at once.
    public func stop() { task.withLock { $0?.cancel() } }
}
