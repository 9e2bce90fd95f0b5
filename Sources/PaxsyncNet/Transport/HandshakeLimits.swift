import NIOCore
import NIOSSL
import NIOTLS
import Synchronization

/// Bounds the TLS handshakes a node's server has in progress (PROTOCOL §13.1).
///
/// A connection must finish its handshake within `timeout` or it is closed.
/// At most `maximumPendingPerAddress` handshakes from one remote IP address,
/// and `maximumPending` in all, are in progress at once; a connection beyond
/// either is closed as soon as it is accepted. A host that opens connections
/// and never completes a handshake so holds a bounded number of sockets for a
/// bounded time, and peers connecting from other addresses are not kept out.
public final class HandshakeLimits: Sendable {
    public let timeout: Duration
    public let maximumPending: Int
    public let maximumPendingPerAddress: Int
    /// Told why a connection was closed (rate-limited by the caller's logger).
    let refused: @Sendable (String) -> Void

    private struct State {
        var total = 0
        var byAddress: [String: Int] = [:]
    }
    private let state = Mutex(State())

    public init(timeout: Duration = .seconds(10), maximumPending: Int = 256, maximumPendingPerAddress: Int = 8,
                refused: @escaping @Sendable (String) -> Void = { _ in }) {
        self.timeout = timeout
        self.maximumPending = max(1, maximumPending)
        self.maximumPendingPerAddress = max(1, maximumPendingPerAddress)
        self.refused = refused
    }

    /// Handshakes in progress: in all, and from `address` (an IP address, no port).
    public func pending(from address: String? = nil) -> Int {
        state.withLock { s in address.map { s.byAddress[$0] ?? 0 } ?? s.total }
    }

    /// Takes a slot for a handshake from `address`, or says why there is none.
    func reserve(_ address: String) -> String? {
        state.withLock { s in
            if s.total >= maximumPending { return "\(maximumPending) TLS handshakes already in progress" }
            if s.byAddress[address, default: 0] >= maximumPendingPerAddress {
                return "\(maximumPendingPerAddress) TLS handshakes from \(address) already in progress"
            }
            s.total += 1
            s.byAddress[address, default: 0] += 1
            return nil
        }
    }

    func release(_ address: String) {
        state.withLock { s in
            s.total -= 1
            let left = s.byAddress[address, default: 1] - 1
            s.byAddress[address] = left > 0 ? left : nil
        }
    }

    /// Admits an accepted connection: closes it if no slot is free (false), else
    /// arms its handshake deadline, a handler right after the TLS handler (true).
    func admit(_ channel: any Channel) -> EventLoopFuture<Bool> {
        channel.eventLoop.makeCompletedFuture {
            let address = channel.remoteAddress?.ipAddress ?? "an unknown address"
            if let full = reserve(address) {
                refused("connection from \(address) closed on accept: \(full)")
                channel.close(promise: nil)
                return false
            }
            let deadline = HandshakeDeadline(limits: self, address: address)
            do {
                let tls = try channel.pipeline.syncOperations.handler(type: NIOSSLHandler.self)
                try channel.pipeline.syncOperations.addHandler(deadline, position: .after(tls))
            } catch {
                release(address)
                throw error
            }
            return true
        }
    }
}

/// Closes its connection unless the TLS handshake completes in time; gives the
/// slot back when it completes or the connection closes, whichever is first.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let limits: HandshakeLimits
    let address: String
    private var timer: Scheduled<Void>?
    private var released = false

    init(limits: HandshakeLimits, address: String) {
        self.limits = limits
        self.address = address
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        let (limits, address) = (self.limits, self.address)
        let seconds = limits.timeout.components.seconds
        let nanoseconds = seconds * 1_000_000_000 + limits.timeout.components.attoseconds / 1_000_000_000
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) {
            limits.refused("connection from \(address) closed: TLS handshake not finished within \(limits.timeout)")
            channel.close(promise: nil)
        }
    }

    private func release() {
        guard !released else { return }
        released = true
        timer?.cancel()
        limits.release(address)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .handshakeCompleted? = event as? TLSUserEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        release()
        context.fireUserInboundEventTriggered(event)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }
}
