import Synchronization

/// Wakes the daemon's sessions when the log grows, so new entries go out at
/// once: rung after a batch from a peer is applied (relay), when held entries
/// are released, and by the CLI through the admin socket after a local write
/// (`wake`). A session also has one of its own, rung when its peer sends
/// something that needs an answer. Nothing polls: an idle session sleeps until
/// a wake-up or its next heartbeat is due.
public final class LogWakeup: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<UInt64> = []
    }

    private let state = Mutex(State())

    public init() {}

    /// The number of wake-ups so far; pass it to `wait(after:)`.
    public var current: UInt64 { state.withLock { $0.generation } }

    /// Resumes every waiter; a session that is busy sees the new generation.
    public func wake() {
        let woken = state.withLock { s in
            s.generation += 1
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns once woken after generation `seen`, or when the task is cancelled.
    public func wait(after seen: UInt64) async {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s in
                    if s.generation > seen || s.cancelled.remove(id) != nil { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Void, Never>? = state.withLock { s in
                if let waiter = s.waiters.removeValue(forKey: id) { return waiter }
                s.cancelled.insert(id)   // cancelled before it registered: resume it as it does
                return nil
            }
            waiter?.resume()
        }
        state.withLock { _ = $0.cancelled.remove(id) }
    }

    /// What ended a bounded wait.
    public enum WaitResult: Sendable, Equatable {
        case woken
        case deadline
    }

    /// Returns once any of `wakeups` rings after its generation in `seen`, or
    /// when `clock` reaches `deadline` (a test clock advances it by hand).
    @discardableResult
    public static func first<C: Clock>(of wakeups: [(LogWakeup, seen: UInt64)], until deadline: C.Instant, clock: C) async -> WaitResult {
        // A deadline already reached is due now (a test clock would otherwise
        // suspend a sleep until exactly its current time until it next advances).
        if clock.now >= deadline { return .deadline }
        return await withTaskGroup(of: WaitResult?.self) { group in
            for (wakeup, seen) in wakeups { group.addTask { await wakeup.wait(after: seen); return .woken } }
            group.addTask {
                do { try await clock.sleep(until: deadline, tolerance: nil) } catch { return nil }
                return .deadline
            }
            // The first to finish decides (nil: cancelled, so the whole wait was).
            let result = await group.next() ?? nil
            group.cancelAll()
            return result ?? .woken
        }
    }
}
