import Logging
import Synchronization

/// Logs a burst of like events as one warning a minute: the first event at
/// once, then, at most once a minute, how many more came and the last one.
/// A host that opens hundreds of connections gets a few lines, not hundreds.
final class RateLimitedLog: Sendable {
    let logger: Logger
    let message: Logger.Message
    let interval: Duration
    private struct State {
        var lastLogged: ContinuousClock.Instant?
        var suppressed = 0
    }
    private let state = Mutex(State())

    init(logger: Logger, message: Logger.Message, interval: Duration = .seconds(60)) {
        self.logger = logger
        self.message = message
        self.interval = interval
    }

    func record(_ reason: String) {
        let now = ContinuousClock.now
        let report: Int? = state.withLock { s in
            if let last = s.lastLogged, last.duration(to: now) < interval {
                s.suppressed += 1
                return nil
            }
            defer { s.lastLogged = now; s.suppressed = 0 }
            return s.suppressed
        }
        guard let earlier = report else { return }
        logger.warning(message, metadata: ["reason": "\(reason)", "more_since_last_report": "\(earlier)"])
    }
}
