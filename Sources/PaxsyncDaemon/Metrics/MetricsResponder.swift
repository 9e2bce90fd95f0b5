import NIOCore
import NIOHTTP1

/// Answers the requests of one HTTP/1.1 connection to the metrics endpoint:
/// `GET` or `HEAD /metrics` gets the exposition, any other path a 404 naming
/// where the metrics are. Keep-alive connections are served until the client
/// closes them or asks to close.
enum MetricsResponder {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func serve(_ connection: ConnectionListener<HTTPServerRequestPart>.Connection,
                      render: @escaping @Sendable () async -> [UInt8]) async throws {
        try await connection.executeThenClose { inbound, _ in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let h): head = h
                case .body: continue
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    let keepAlive = request.isKeepAlive
                    if request.method == .GET || request.method == .HEAD, request.uri.split(separator: "?").first == "/metrics" {
                        try await reply(connection.channel, status: .ok, type: contentType, body: await render(),
                                        keepAlive: keepAlive, headOnly: request.method == .HEAD)
                    } else {
                        try await reply(connection.channel, status: .notFound, type: "text/plain",
                                        body: Array("not found; metrics are at /metrics\n".utf8), keepAlive: keepAlive, headOnly: false)
                    }
                    if !keepAlive { return }
                }
            }
        }
    }

    static func reply(_ channel: any Channel, status: HTTPResponseStatus, type: String, body: [UInt8],
                      keepAlive: Bool, headOnly: Bool) async throws {
        var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.count)")])
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)), promise: nil)
        if !headOnly { channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
    }
}
