import Logging
import PaxsyncNet
import PaxsyncStore
import ServiceLifecycle

/// Retries held entries once a second, so entries held for clock skew are
/// applied as soon as this node's clock is within the bound; released entries
/// wake the sessions so they are relayed at once.
public struct HeldRetrier: Service {
    let replica: Replica
    let wakeup: LogWakeup
    let logger: Logger

    public init(replica: Replica, wakeup: LogWakeup, logger: Logger) {
        self.replica = replica
        self.wakeup = wakeup
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let released = try await replica.retryHeldAsync()
                    if released > 0 {
                        logger.info("released held entries", metadata: ["count": "\(released)"])
                        wakeup.wake()
                    }
                    try await Task.sleep(for: .seconds(1))
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("retrying held entries failed", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: .seconds(5))
                }
            }
        }
    }
}
