import Foundation

/// Wakes the daemon's sessions when the log grows, so new entries go out at
/// once instead of at the next poll: rung after a batch from a peer is applied
/// (relay) and by the CLI through the admin socket after a local write (`wake`).
/// Polling stays as the fallback for writers that do not ring.
public final class LogWakeup: @unchecked Sendable {
    private let lock = NSLock()
    private var generation: UInt64 = 0
    private var nextID: UInt64 = 0
    private var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]

    public init() {}

    /// The number of wake-ups so far; pass it to `wait(after:timeout:)`.
    public var current: UInt64 { lock.withLock { generation } }

    /// Resumes every waiter; a session that is busy sees the new generation.
    public func wake() {
        let woken = lock.withLock {
            generation += 1
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns once woken after generation `seen`, or after `timeout`.
    public func wait(after seen: UInt64, timeout: Duration) async {
        let id = lock.withLock { nextID += 1; return nextID }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = lock.withLock {
                if generation > seen { return true }
                waiters[id] = continuation
                return false
            }
            if ready {
                continuation.resume()
                return
            }
            Task {
                try? await Task.sleep(for: timeout)
                self.lock.withLock { self.waiters.removeValue(forKey: id) }?.resume()
            }
        }
    }
}
