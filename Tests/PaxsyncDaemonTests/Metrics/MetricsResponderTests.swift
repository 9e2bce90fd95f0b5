import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
@testable import PaxsyncDaemon
import Testing

@Suite("Metrics HTTP responder")
struct MetricsResponderTests {
    static let body = Array("paxsync_log_entries 3\n".utf8)

    /// Sends one request to `MetricsResponder` over a testing channel and collects the response parts.
    func exchange(_ method: HTTPMethod, _ uri: String, version: HTTPVersion = .http1_1,
                  headers: HTTPHeaders = [:]) async throws -> (NIOAsyncTestingChannel, HTTPResponseHead, [UInt8]?) {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9464)).get()
        let connection = try await channel.eventLoop.submit {
            try NIOAsyncChannel<HTTPServerRequestPart, Never>(wrappingChannelSynchronously: channel)
        }.get()
        // Serves until the connection closes (the test's `finish`, or the responder for HTTP/1.0).
        Task { try await MetricsResponder.serve(connection, render: { Self.body }) }
        try await channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: version, method: method, uri: uri, headers: headers)))
        try await channel.writeInbound(HTTPServerRequestPart.end(nil))
        guard case .head(let head) = try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self) else {
            Issue.record("the response does not start with a head")
            throw CancellationError()
        }
        var body: [UInt8]?
        while true {
            switch try await channel.waitForOutboundWrite(as: HTTPServerResponsePart.self) {
            case .head: Issue.record("a second head")
            case .body(.byteBuffer(let buffer)): body = (body ?? []) + Array(buffer.readableBytesView)
            case .body(.fileRegion): Issue.record("a file region")
            case .end: return (channel, head, body)
            }
        }
    }

    @Test("GET /metrics answers 200 with the exposition, its type and length")
    func metrics() async throws {
        for uri in ["/metrics", "/metrics?name[]=paxsync_log_entries"] {
            let (channel, head, body) = try await exchange(.GET, uri)
            #expect(head.status == .ok)
            #expect(head.headers["Content-Type"] == ["text/plain; version=0.0.4; charset=utf-8"])
            #expect(head.headers["Content-Length"] == ["\(Self.body.count)"])
            #expect(head.headers["Connection"].isEmpty, "HTTP/1.1 keeps the connection")
            #expect(body == Self.body)
            #expect(channel.isActive, "the connection stays open")
            _ = try await channel.finish()
        }
    }

    @Test("HEAD /metrics answers the head alone")
    func head() async throws {
        let (channel, head, body) = try await exchange(.HEAD, "/metrics")
        #expect(head.status == .ok && head.headers["Content-Length"] == ["\(Self.body.count)"])
        #expect(body == nil)
        _ = try await channel.finish()
    }

    @Test("any other path or method is 404, naming where the metrics are", arguments: [
        (HTTPMethod.GET, "/"), (.GET, "/other"), (.GET, "/metrics/x"), (.POST, "/metrics"), (.DELETE, "/metrics"),
    ])
    func notFound(method: HTTPMethod, uri: String) async throws {
        let (channel, head, body) = try await exchange(method, uri)
        #expect(head.status == .notFound)
        #expect(head.headers["Content-Type"] == ["text/plain"])
        #expect(body == Array("not found; metrics are at /metrics\n".utf8))
        _ = try await channel.finish()
    }

    @Test("an HTTP/1.0 request without keep-alive gets Connection: close and the connection is closed")
    func closes() async throws {
        let (channel, head, body) = try await exchange(.GET, "/metrics", version: .http1_0)
        #expect(head.headers["Connection"] == ["close"])
        #expect(body == Self.body)
        try await channel.closeFuture.get()
    }
}
