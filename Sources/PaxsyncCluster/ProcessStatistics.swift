import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore

#if canImport(Glibc)
import Glibc
#endif

/// Peak resident set size (VmHWM) of a process, in bytes, from /proc.
public func peakResidentBytes(pid: Int32) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
    }
    return nil
}
