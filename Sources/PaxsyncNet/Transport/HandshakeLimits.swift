import NIOCore
import NIOSSL
import NIOTLS
import Synchronization

/// Bounds the TLS handshakes a node's server has in progress (PROTOCOL §13.1).
///
/// A connection must finish its handshake within `timeout` or it is closed.
/// At most `maximumPendingPerAddress` handshakes from one remote IP address,
/// and `maximumPending` in all, are in progress at once; a connection beyond
/// either is closed as soon as it is accepted — by a handler on the listening
/// channel (``gate``), before any TLS, HTTP/2 or gRPC state exists for it, so a
/// host that reconnects as fast as it can costs an accept and a close each time,
/// not a pipeline. A host that opens connections and never completes a handshake
/// so holds a bounded number of sockets for a bounded time, and peers connecting
/// from other addresses are not kept out.
public final class HandshakeLimits: Sendable {
    public let timeout: Duration
    public let maximumPending: Int
    public let maximumPendingPerAddress: Int
    /// Told why a connection was closed (rate-limited by the caller's logger).
    let refused: @Sendable (String) -> Void

    private struct State {
        var total = 0
        var byAddress: [String: Int] = [:]
        /// The remote address of each connection holding a slot.
        var slots: [ObjectIdentifier: String] = [:]
        var refusedAtGate = 0
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

    /// Connections the listener's gate closed on accept, before any pipeline.
    public var refusedAtGate: Int { state.withLock { $0.refusedAtGate } }

    /// Takes a slot for `connection`, from `address`, or says why there is none.
    func reserve(_ connection: ObjectIdentifier, from address: String) -> String? {
        state.withLock { s in
            if s.slots[connection] != nil { return nil }
            if s.total >= maximumPending { return "\(maximumPending) TLS handshakes already in progress" }
            if s.byAddress[address, default: 0] >= maximumPendingPerAddress {
                return "\(maximumPendingPerAddress) TLS handshakes from \(address) already in progress"
            }
            s.total += 1
            s.byAddress[address, default: 0] += 1
            s.slots[connection] = address
            return nil
        }
    }

    /// Gives `connection`'s slot back; does nothing if it holds none (any more).
    func release(_ connection: ObjectIdentifier) {
        state.withLock { s in
            guard let address = s.slots.removeValue(forKey: connection) else { return }
            s.total -= 1
            let left = s.byAddress[address, default: 1] - 1
            s.byAddress[address] = left > 0 ? left : nil
        }
    }

    /// Reserves a slot for an accepted connection, or closes it (false). The slot
    /// is given back when the connection closes, whatever else happens.
    func admit(accepted channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let address = channel.remoteAddress?.ipAddress ?? "an unknown address"
        if let full = reserve(id, from: address) {
            refused("connection from \(address) closed on accept: \(full)")
            channel.close(promise: nil)
            return false
        }
        channel.closeFuture.whenComplete { _ in self.release(id) }
        return true
    }

    func countRefusedAtGate() { state.withLock { $0.refusedAtGate += 1 } }

    /// The handler for the listening channel's pipeline (first, before NIO's
    /// accept handler): it sees each accepted connection before the connection's
    /// pipeline is built, and closes it there if no slot is free.
    func gate() -> some ChannelInboundHandler { AcceptGate(limits: self) }

    /// Arms the handshake deadline of a connection the gate admitted: a handler
    /// right after the TLS handler. (A connection that reached the pipeline some
    /// other way takes its slot here, or is closed.)
    func armDeadline(_ channel: any Channel) -> EventLoopFuture<Bool> {
        channel.eventLoop.makeCompletedFuture {
            guard admit(accepted: channel) else { return false }
            let deadline = HandshakeDeadline(limits: self, connection: ObjectIdentifier(channel),
                                             address: channel.remoteAddress?.ipAddress ?? "an unknown address")
            let tls = try channel.pipeline.syncOperations.handler(type: NIOSSLHandler.self)
            try channel.pipeline.syncOperations.addHandler(deadline, position: .after(tls))
            return true
        }
    }
}

/// On the listening channel: admits or closes each accepted connection.
final class AcceptGate: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    let limits: HandshakeLimits

    init(limits: HandshakeLimits) { self.limits = limits }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let accepted = Self.unwrapInboundIn(data)
        guard limits.admit(accepted: accepted) else {
            limits.countRefusedAtGate()
            return
        }
        context.fireChannelRead(data)
    }
}

/// Closes its connection unless the TLS handshake completes in time; gives the
/// slot back when it completes or the connection closes, whichever is first.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let limits: HandshakeLimits
    let connection: ObjectIdentifier
    let address: String
    private var timer: Scheduled<Void>?
    private var released = false

    init(limits: HandshakeLimits, connection: ObjectIdentifier, address: String) {
        self.limits = limits
        self.connection = connection
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
        limits.release(connection)
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
