import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Loopback TCP ports for a local coalition, whose roster must name every
/// node's address before any node starts (so the nodes cannot bind port 0).
///
/// A port taken from the kernel with bind-to-0 and released is what the next
/// bind-to-0 elsewhere (another test's daemon, a client's outgoing connection)
/// may be handed, so the ports come from below the kernel's ephemeral range
/// instead, which bind-to-0 never uses: each is handed out once per process
/// and only after a bind to it succeeded. Two processes may still pick the
/// same port at the same moment; the range makes that unlikely, and a daemon
/// whose port is taken exits naming it.
public enum LoopbackPorts {
    /// Ports handed out by this process.
    private static let given = Mutex<Set<Int>>([])

    /// The kernel's ephemeral range (`ip_local_port_range`), or Linux's default.
    static var ephemeral: ClosedRange<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        return bounds.count == 2 && bounds[0] <= bounds[1] ? bounds[0]...bounds[1] : 32768...60999
    }

    /// A loopback port that no one in this process was given before and that was free a moment ago.
    public static func reserve() -> Int {
        let ephemeral = ephemeral
        // Registered ports below the ephemeral range, clear of the well-known ones.
        let below = 20_000..<max(20_001, min(ephemeral.lowerBound, 32_768))
        for _ in 0..<1_000 {
            let port = Int.random(in: below)
            let fresh = given.withLock { $0.insert(port).inserted }
            if fresh && canBind(port) { return port }
        }
        // Everything below the range is busy: fall back to a port the kernel hands out.
        return kernelChosen()
    }

    /// Whether a listening bind to 127.0.0.1:`port` succeeds now (it is released at once).
    static func canBind(_ port: Int) -> Bool {
        bindLoopback(port) != nil
    }

    static func kernelChosen() -> Int {
        bindLoopback(0) ?? 0
    }

    /// Binds 127.0.0.1:`port`, returns the bound port, closes the socket.
    private static func bindLoopback(_ port: Int) -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0 else { return nil }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
