import Clocks
import PaxsyncSync

/// The dialer's loop without the network: runs an attempt (a whole session),
/// and when it ends waits on the clock per the backoff, then runs the next.
///
/// A session that lasted longer than `resetAfter` got going, so the next wait
/// starts again from the backoff's initial delay. The clock and the random
/// source are injected, so tests see every wait exactly.
struct Redialer<Random: RandomNumberGenerator> {
    var backoff: Backoff
    var random: Random
    let clock: AnyClock<Duration>
    var resetAfter: Duration = .seconds(10)

    /// Runs until the task is cancelled or an attempt throws `CancellationError`.
    /// `ended` hears each attempt's error (nil: it ended without one) and how
    /// many attempts in a row have failed.
    mutating func run(_ attempt: () async throws -> Void, ended: (_ error: (any Error)?, _ failuresInARow: Int) -> Void) async {
        var failures = 0
        while !Task.isCancelled {
            let started = clock.now
            do {
                try await attempt()
                failures = 0
                ended(nil, 0)
            } catch is CancellationError {
                return
            } catch {
                // Shutting down: a transport may report the cancellation as its own error.
                if Task.isCancelled { return }
                failures += 1
                ended(error, failures)
            }
            if started.duration(to: clock.now) > resetAfter { backoff.reset() }
            let delay = backoff.next(using: &random)
            do { try await clock.sleep(for: .milliseconds(Int64(delay))) } catch { return }
        }
    }
}
