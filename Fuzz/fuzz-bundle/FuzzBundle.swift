// libFuzzer target: the audit bundle reader. The input is a whole bundle file:
// it is decoded as a bare header message, then written to one temporary file
// per process and read frame by frame with BundleReader, as `paxsync log
// import` and `paxsync audit verify` do. Any input may throw; none may trap.
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

let bundlePath = FileManager.default.temporaryDirectory
    .appendingPathComponent("paxsync-fuzz-bundle-\(getpid()).pxb").path

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    // The input as a header frame's payload.
    _ = try? BundleFormat.decodeHeader(bytes, source: "fuzz")

    // The input as a bundle file.
    let fd = open(bundlePath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { fatalError("cannot create \(bundlePath): errno \(errno)") }
    var written = 0
    while written < size {
        let n = write(fd, data + written, size - written)
        guard n > 0 else { fatalError("cannot write \(bundlePath): errno \(errno)") }
        written += n
    }
    close(fd)

    guard let reader = try? BundleReader(path: bundlePath) else { return 0 }
    while true {
        do {
            guard let raw = try reader.nextRaw() else { break }
            // What an importer does next with each entry.
            _ = try? SignedEntry(body: raw.body, signature: raw.signature)
        } catch {
            break
        }
    }
    return 0
}
