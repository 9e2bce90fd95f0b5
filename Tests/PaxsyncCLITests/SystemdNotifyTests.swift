import Foundation
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// systemd's side of `Type=notify`: a datagram socket the daemon reports to.
final class NotifySocket {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // "@name": Linux's abstract namespace, a leading NUL instead of the "@".
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long: \(path)")
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = abstract ? MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count : MemoryLayout<sockaddr_un>.size
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        try #require(bound == 0, "cannot bind \(path): \(String(cString: strerror(errno)))")
    }

    deinit { close(fd) }

    /// The next datagram, waiting for it up to `seconds` without blocking a thread.
    func next(seconds: Double = 120) async throws -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n >= 0 { return String(decoding: buffer[..<n], as: UTF8.self) }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Once more at the deadline: a test starved of threads on a loaded machine may wake only after it.
        let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return n >= 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil
    }
}

@Suite("systemd readiness (Type=notify)")
struct SystemdNotifyTests {
    @Test("the daemon reports READY=1 with its bound address once it listens, and STOPPING=1 on SIGTERM")
    func readyAndStopping() async throws {
        let dir = TemporaryDirectory("paxsync-notify")
        let members = [LocalCoalition.Member(id: "AU", country: "AU", name: "Australia"),
                       LocalCoalition.Member(id: "JP", country: "JP", name: "Japan")]
        let c = try LocalCoalition(base: dir.path, members: members, executable: Paxsync.binary) { id, config in
            if id == "AU" { config.listen = "127.0.0.1:0" }
        }
        defer { c.stopAll() }
        let notify = try NotifySocket(path: dir.file("notify.sock"))
        try c.start("AU", environment: ["NOTIFY_SOCKET": notify.path])

        let ready = try #require(try await notify.next(), "no READY=1 from the daemon")
        let lines = ready.split(separator: "\n").map(String.init)
        #expect(lines.first == "READY=1", "\(ready)")
        let status = try #require(lines.first { $0.hasPrefix("STATUS=listening for peers on 127.0.0.1:") }, "\(ready)")
        let port = try #require(Int(status.split(separator: ":").last!), "\(ready)")
        #expect(port > 0 && acceptsConnections(port: port), "ready means listening, on the port it names")

        #expect(c.stop("AU") == 0)
        #expect(try await notify.next(seconds: 5) == "STOPPING=1")
    }

    @Test("without NOTIFY_SOCKET nothing is sent; a socket in the abstract namespace (@name) gets the message")
    func abstractSocket() async throws {
        #expect(!SystemdNotify(environment: [:]).send("READY=1"))
        let name = "@paxsync-notify-test-\(getpid())"
        let socket = try NotifySocket(path: name)
        #expect(SystemdNotify(environment: ["NOTIFY_SOCKET": name]).send("READY=1"))
        #expect(try await socket.next(seconds: 5) == "READY=1")
    }
}
