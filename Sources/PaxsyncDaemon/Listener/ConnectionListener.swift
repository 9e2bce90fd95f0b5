import NIOCore
import NIOPosix
import ServiceLifecycle

/// A listening socket on NIO's async channel, whose accepted connections each
/// run as a child task of the listener.
///
/// A connection's outbound side is `Never`: handlers write on the channel
/// itself. NIO traps when a connection whose async writer was never finished
/// is dropped, which a listener cancelled with connections still in its buffer
/// does; with no writer there is nothing to finish, and `connections` closes
/// what was never served.
struct ConnectionListener<Inbound: Sendable>: Sendable {
    typealias Connection = NIOAsyncChannel<Inbound, Never>

    let server: NIOAsyncChannel<Connection, Never>
    let connections: OpenConnections

    /// Binds with `bind`, which gets the initializer every accepted channel must run.
    static func bind(
        _ bind: (_ initialize: @escaping @Sendable (any Channel) -> EventLoopFuture<Connection>) async throws -> NIOAsyncChannel<Connection, Never>,
        configure: @escaping @Sendable (any Channel) throws -> Void
    ) async throws -> ConnectionListener {
        let connections = OpenConnections()
        let server = try await bind { channel in
            channel.eventLoop.makeCompletedFuture {
                connections.accepted(channel)
                try configure(channel)
                return try Connection(wrappingChannelSynchronously: channel)
            }
        }
        return ConnectionListener(server: server, connections: connections)
    }

    var channel: any Channel { server.channel }

    /// Hands each connection to `handle` until graceful shutdown (which closes
    /// the listener; what was already accepted is still handled) or cancellation
    /// (which ends at once). Every connection is closed when this returns.
    func serve(_ handle: @escaping @Sendable (Connection) async -> Void) async throws {
        defer { connections.closeAll() }
        let channel = server.channel
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { await handle(connection) }
                        }
                    }
                }
            } onGracefulShutdown: {
                channel.close(promise: nil)
            }
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}
