import Foundation
import PaxsyncModel

#if canImport(Glibc)
import Glibc
#endif

/// Writes whole files with an exact mode, for keys, certificates, rosters and
/// configuration.
public enum FileWriter {
    /// Writes `contents` to `path` with exactly `mode`, also when the file existed.
    ///
    /// The bytes go to a new temporary file beside `path`, created with `mode`
    /// from the start (so a private key is never readable by others, not even
    /// for a moment), synced, then renamed over `path`: a reader sees the old
    /// file or the new one, never a part.
    public static func write(_ path: String, _ contents: String, mode: Int) throws {
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else {
            throw PaxsyncError(.storage, "cannot write file", subject: path, cause: String(cString: strerror(errno)))
        }
        var failure: String?
        if fchmod(fd, mode_t(mode)) != 0 { failure = String(cString: strerror(errno)) }   // the umask narrowed it
        let bytes = Array(contents.utf8)
        var written = 0
        while failure == nil && written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno))
            } else {
                written += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw PaxsyncError(.storage, "cannot write file", subject: path, cause: failure)
        }
    }
}
