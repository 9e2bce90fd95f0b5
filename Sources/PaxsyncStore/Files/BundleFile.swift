import Foundation
import PaxsyncLog
import PaxsyncModel

/// Writes an audit bundle file (PROTOCOL.md, "Bundles").
public final class BundleWriter {
    private let handle: FileHandle
    private var buffer: [UInt8] = []

    public init(path: String, header: BundleFormat.Header) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw PaxsyncError(.storage, "cannot create the bundle file", subject: path)
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        buffer = BundleFormat.magic + BundleFormat.frame(BundleFormat.encodeHeader(header))
    }

    public func append(_ entry: SignedEntry) throws {
        buffer += BundleFormat.frame(entry.envelopeBytes())
        if buffer.count > 1 << 20 { try flush() }
    }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    public func close() throws {
        try flush()
        try handle.synchronize()
        try handle.close()
    }

    /// Writes a whole bundle of entries held in memory to `path`.
    public static func write(_ header: BundleFormat.Header, entries: [SignedEntry], to path: String) throws {
        let writer = try BundleWriter(path: path, header: header)
        for entry in entries { try writer.append(entry) }
        try writer.close()
    }
}

/// Reads length-prefixed frames from a file in 1 MiB chunks.
struct FrameReader {
    let handle: FileHandle
    let path: String
    var buffer: [UInt8] = []
    var offset = 0
    var eof = false
    var frames = 0

    mutating func fill(_ n: Int) throws -> Bool {
        while buffer.count - offset < n {
            if eof { return false }
            if offset > 0 {
                buffer.removeFirst(offset)
                offset = 0
            }
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { eof = true } else { buffer += chunk }
        }
        return true
    }

    mutating func bytes(_ n: Int) throws -> [UInt8]? {
        guard try fill(n) else { return nil }
        defer { offset += n }
        return Array(buffer[offset..<offset + n])
    }

    mutating func frame() throws -> [UInt8]? {
        guard try fill(4) else {
            if buffer.count > offset {
                throw PaxsyncError(.badInput, "the file ends inside a frame length (truncated)", subject: path)
            }
            return nil
        }
        let n = Int(buffer[offset]) << 24 | Int(buffer[offset + 1]) << 16 | Int(buffer[offset + 2]) << 8 | Int(buffer[offset + 3])
        guard n <= BundleFormat.maxFrame else {
            throw PaxsyncError(.badInput, "frame \(frames + 1) claims \(n) bytes, over the \(BundleFormat.maxFrame)-byte limit", subject: path)
        }
        offset += 4
        guard try fill(n) else {
            throw PaxsyncError(.badInput, "the file ends inside frame \(frames + 1) (truncated)", subject: path)
        }
        frames += 1
        defer { offset += n }
        return Array(buffer[offset..<offset + n])
    }
}

/// Reads an audit bundle entry by entry, never holding more than one in memory.
public final class BundleReader {
    public let path: String
    public let header: BundleFormat.Header
    private var frames: FrameReader
    /// Number of entry frames read so far.
    public private(set) var entriesRead = 0

    public init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw PaxsyncError(.notFound, "cannot open the bundle file", subject: path)
        }
        var frames = FrameReader(handle: handle, path: path)
        guard try frames.bytes(8) == BundleFormat.magic else {
            throw PaxsyncError(.badInput, "not a paxsync bundle (the file does not start with PXBUNDL1)", subject: path)
        }
        guard let first = try frames.frame() else { throw PaxsyncError(.badInput, "the bundle has no header", subject: path) }
        self.header = try BundleFormat.decodeHeader(first, source: path)
        self.frames = frames
    }

    /// The next entry's body and signature, undecoded, or nil at the end.
    public func nextRaw() throws -> (body: [UInt8], signature: [UInt8])? {
        guard let frame = try frames.frame() else { return nil }
        entriesRead += 1
        do { return try SignedEntry.envelopeFields(frame) } catch {
            throw error.within("\(path): entry frame \(entriesRead)")
        }
    }
}
