import Foundation
import Logging
import NIOCore
import NIOPosix
import PaxsyncModel
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Reads one command line, answers it, closes.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let respond: AdminServer.Responder
    private var request: [UInt8] = []
    private var answered = false

    init(respond: @escaping AdminServer.Responder) { self.respond = respond }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        var buffer = Self.unwrapInboundIn(data)
        request += buffer.readBytes(length: buffer.readableBytes) ?? []
        guard let newline = request.firstIndex(of: UInt8(ascii: "\n")) else {
            if request.count > 1024 { context.close(promise: nil) }
            return
        }
        answered = true
        let command = String(decoding: request[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespaces)
        let channel = context.channel
        let respond = self.respond
        Task {
            let bytes = await respond(command)
            var out = channel.allocator.buffer(capacity: bytes.count)
            out.writeBytes(bytes)
            channel.writeAndFlush(out).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
