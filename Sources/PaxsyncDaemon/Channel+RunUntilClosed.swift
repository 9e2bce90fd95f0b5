import NIOCore
import ServiceLifecycle

extension Channel {
    /// Waits until the channel closes; closes it on graceful shutdown or when
    /// the task is cancelled (the service group cancels every service when one
    /// fails, and a listener that ignored it would keep the daemon alive).
    func runUntilClosed() async throws {
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await closeFuture.get()
            } onGracefulShutdown: {
                self.close(promise: nil)
            }
        } onCancel: {
            self.close(promise: nil)
        }
    }
}
