import Foundation
import Logging
import NIOCore
import NIOPosix
import PaxsyncModel
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The client side: one blocking request, as `paxsync status` makes it.
public enum AdminClient {
    /// The commands the admin socket understands.
    public static let status = "status"
    public static let wake = "wake"

    /// Why the daemon could not be asked.
    public enum Failure: Error, CustomStringConvertible {
        /// No socket file, or nothing listening on it: the daemon is not running.
        case notRunning(String)
        /// The socket exists but this account may not connect to it.
        case permissionDenied(String)
        case failed(String)

        public var description: String {
            switch self {
            case .notRunning(let path): "\(path): the node's daemon is not running (no one answers on the admin socket)"
            case .permissionDenied(let path): "\(path): permission denied; the admin socket is reserved to the account that runs the node"
            case .failed(let reason): reason
            }
        }
    }

    /// Sends `command` and returns the whole response.
    public static func request(_ path: String, _ command: String, timeoutSeconds: Int = 10) throws(Failure) -> [UInt8] {
        let fd = try connect(path)
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let line = Array((command + "\n").utf8)
        guard line.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == line.count else {
            throw .failed("\(path): cannot send to the admin socket: \(String(cString: strerror(errno)))")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw .failed("\(path): no answer from the daemon within \(timeoutSeconds) s: \(String(cString: strerror(errno)))")
            }
            response += chunk[0..<n]
        }
        return response
    }

    /// Whether a daemon answers on `path` (a connection is accepted).
    public static func isAnswering(_ path: String) -> Bool {
        guard let fd = try? connect(path) else { return false }
        close(fd)
        return true
    }

    private static func connect(_ path: String) throws(Failure) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw .failed("\(path): the admin socket path is longer than \(capacity - 1) bytes") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .failed("cannot create a socket: \(String(cString: strerror(errno)))") }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if result == 0 { return fd }
        let code = errno
        close(fd)
        switch code {
        case ENOENT, ECONNREFUSED, ENOTDIR: throw .notRunning(path)
        case EACCES, EPERM: throw .permissionDenied(path)
        default: throw .failed("\(path): cannot connect to the admin socket: \(String(cString: strerror(code)))")
        }
    }
}
