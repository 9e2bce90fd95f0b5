import NIOCore
import Synchronization

/// Every connection a listener accepted and that is not closed yet, so none
/// outlives the listener: `closeAll` closes them, and one accepted afterwards
/// (its initializer runs on its own event loop, possibly after the listener
/// stopped) is closed at once.
final class OpenConnections: Sendable {
    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var closed = false
    }
    private let state = Mutex(State())

    /// Records `channel`; call from the listener's child channel initializer.
    func accepted(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        let closed = state.withLock { s in
            if !s.closed { s.open[key] = channel }
            return s.closed
        }
        if closed {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [self] _ in _ = state.withLock { $0.open.removeValue(forKey: key) } }
    }

    /// Closes every open connection, and any accepted from now on.
    func closeAll() {
        let open = state.withLock { s in
            s.closed = true
            return Array(s.open.values)
        }
        for channel in open { channel.close(promise: nil) }
    }

    /// How many are open now.
    var count: Int { state.withLock { $0.open.count } }
}
