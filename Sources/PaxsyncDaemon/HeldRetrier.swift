import Clocks
import Logging
import PaxsyncNet
import PaxsyncStore
import ServiceLifecycle

/// Releases held entries as soon as they may be applied: an entry held for
/// clock skew once this node's clock is within the bound of its stamp.
///
/// It does no periodic work: it retries once at start (a version hold may be
/// released by an upgrade), then sleeps until the earliest hold that waits on
/// time comes due, or until a session reports new holds (`held`). Released
/// entries wake the sessions (`wakeup`) so they are relayed at once.
public struct HeldRetrier: Service {
    let replica: Replica
    let wakeup: LogWakeup
    let held: LogWakeup
    let clock: AnyClock<Duration>
    let logger: Logger
    /// The longest sleep, so a wall clock stepped forward (NTP) is noticed within it.
    static let longestSleep: Duration = .seconds(60)

    public init(replica: Replica, wakeup: LogWakeup, held: LogWakeup,
                clock: AnyClock<Duration> = AnyClock(ContinuousClock()), logger: Logger) {
        self.replica = replica
        self.wakeup = wakeup
        self.held = held
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.retryLoop() }
    }

    func retryLoop() async {
        while !Task.isCancelled {
            let seen = held.current
            do {
                let released = try await replica.retryHeldAsync()
                if released > 0 {
                    logger.info("released held entries", metadata: ["count": "\(released)"])
                    wakeup.wake()
                }
                var sleep = Self.longestSleep
                if let at = try await replica.nextHeldRelease() {
                    let now = replica.nowMilliseconds
                    sleep = min(sleep, .milliseconds(Int64(at > now ? at - now : 0)))
                }
                if sleep > .zero {
                    await LogWakeup.first(of: [(held, seen)], until: clock.now.advanced(by: sleep), clock: clock)
                }
            } catch {
                if Task.isCancelled { return }
                logger.error("retrying held entries failed", metadata: ["error": "\(error)"])
                try? await clock.sleep(for: .seconds(5))
            }
        }
    }
}
