import NIOCore
import NIOSSL
import NIOTLS

/// Ends a connection whose TLS handshake settled on a version below TLS 1.3,
/// before any gRPC byte crosses it (PROTOCOL §13.1: TLS 1.3 only). The gRPC
/// transport fixes its minimum at TLS 1.2, so the check runs just after the
/// handshake, on the server's accepted connections and the dialer's own.
final class TLSVersionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    /// Called with a description of each refused connection.
    let refused: @Sendable (String) -> Void

    init(refused: @escaping @Sendable (String) -> Void) { self.refused = refused }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .handshakeCompleted? = event as? TLSUserEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let version = (try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self))?.tlsVersion
        guard version == .tlsv13 else {
            refused("\(context.remoteAddress.map { "\($0)" } ?? "a peer") negotiated \(version.map { "\($0)" } ?? "an unknown TLS version"); TLS 1.3 is required")
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Adds a guard right after the channel's TLS handler.
    static func install(on channel: any Channel, refused: @escaping @Sendable (String) -> Void) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            let tls = try channel.pipeline.syncOperations.handler(type: NIOSSLHandler.self)
            try channel.pipeline.syncOperations.addHandler(TLSVersionGuard(refused: refused), position: .after(tls))
        }
    }
}
