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

/// CPU time (user and system) a process has used so far, in seconds, from
/// /proc/PID/stat; `pid` nil reads the calling process.
public func cpuSeconds(pid: Int32? = nil) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid.map(String.init) ?? "self")/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return nil }
    // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    return (user + system) / ticks
}
