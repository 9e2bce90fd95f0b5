import Foundation
import PaxsyncModel
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The exclusive claim of one `paxsync serve` on a data directory: an advisory
/// lock (`flock`) on `serve.lock`, held for the daemon's life and released by
/// the kernel when the process ends, however it ends. The file holds the
/// owner's process id, for the refusal message.
///
/// Taken before anything else opens the replica or the admin socket, so two
/// daemons started at the same moment cannot both run: one gets the lock, the
/// other stops naming the first's process id.
public final class ServeLock: Sendable {
    public static let fileName = "serve.lock"
    public let path: String
    private let descriptor: FileDescriptor

    /// Takes the lock on `directory`, or throws `.unavailable` naming the daemon that holds it.
    public init(directory: NodeDirectory) throws {
        path = directory.file(Self.fileName)
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, .readWrite, options: [.create, .closeOnExec],
                                         permissions: [.ownerReadWrite])
        } catch Errno.readOnlyFileSystem {
            throw PaxsyncError(.storage, "the data directory is on a read-only file system; paxsync serve writes its replica there "
                               + "(read commands such as digest, query, status and log verify work)", subject: directory.path)
        } catch {
            throw PaxsyncError(.storage, "cannot open the daemon's lock file", subject: path, underlying: error)
        }
        guard flock(fd.rawValue, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            try? fd.close()
            if code == EWOULDBLOCK {
                let who = holder.flatMap { $0.isEmpty ? nil : "pid \($0)" } ?? "a process"
                throw PaxsyncError(.unavailable, "another paxsync serve already runs for this data directory (\(who) holds \(Self.fileName))",
                                   subject: directory.path)
            }
            throw PaxsyncError(.storage, "cannot lock the daemon's lock file", subject: path, cause: String(cString: strerror(code)))
        }
        // Ours now: record who holds it.
        _ = try? fd.resize(to: 0)
        _ = try? fd.writeAll(toAbsoluteOffset: 0, "\(getpid())\n".utf8)
        descriptor = fd
    }

    /// The process id of the `paxsync serve` that holds (or last held) the lock
    /// on `directory`, if that process still runs and is a `serve`. Read without
    /// touching the lock, so a daemon starting meanwhile is never kept out.
    public static func runningDaemon(in directory: NodeDirectory) -> Int32? {
        guard let text = try? String(contentsOfFile: directory.file(fileName), encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
              let command = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return nil }
        let words = command.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return words.contains("serve") ? pid : nil
    }

    deinit {
        // Closing the descriptor releases the lock; the file stays (its content is stale but harmless).
        try? descriptor.close()
    }
}
