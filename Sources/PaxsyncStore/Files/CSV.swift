import Foundation
import PaxsyncModel

/// RFC 4180 CSV: comma-separated, fields optionally in double quotes with `""`
/// for a quote, LF or CRLF line ends, first row a header.
public enum CSV {
    /// One parsed row and the line it starts on (1-based).
    public struct Row: Sendable {
        public let line: Int
        public let fields: [String]
    }

    /// Parses a whole file. Errors name `source:line`.
    public static func parse(_ data: Data, source: String) throws -> [Row] {
        let reader = Reader(data: data, source: source)
        var rows: [Row] = []
        while let row = try reader.next() { rows.append(row) }
        return rows
    }

    /// Reads rows one at a time from a stream of byte chunks, holding no more
    /// than one chunk and one row: a file of any length is read in memory
    /// bounded by its longest row. Errors name `source:line`.
    public final class Reader {
        public let source: String
        /// The next chunk of bytes; nil at the end.
        private let read: () throws -> [UInt8]?
        private var chunk: [UInt8] = []
        private var position = 0
        private var ended = false
        private var started = false
        /// `read` returned nil: it is not called again.
        private var exhausted = false

        private var fields: [String] = []
        private var field: [UInt8] = []
        private var line = 1
        private var rowLine = 1
        private var inQuotes = false
        /// Inside quotes, a quote was just read: the next byte says whether it
        /// was an escaped quote (`""`) or the closing one.
        private var quoteInQuotes = false
        private var quotedField = false
        private var header: [String]?
        private var ready: Row?

        public init(source: String, chunks: @escaping () throws -> [UInt8]?) {
            self.source = source
            self.read = chunks
        }

        public convenience init(data: Data, source: String) {
            var pending: [UInt8]? = Array(data)
            self.init(source: source) { defer { pending = nil }; return pending }
        }

        /// Reads `path` in chunks of `chunkSize` bytes.
        public convenience init(file path: String, source: String, chunkSize: Int = 1 << 16) throws {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw PaxsyncError(.notFound, "cannot read the file", subject: path)
            }
            self.init(source: source) {
                let data = try handle.read(upToCount: chunkSize) ?? Data()
                if data.isEmpty {
                    try? handle.close()
                    return nil
                }
                return Array(data)
            }
        }

        /// The next row (the header first), or nil at the end of the file.
        public func next() throws -> Row? {
            if !started { try start() }
            while ready == nil {
                if position == chunk.count {
                    if ended { return nil }
                    guard let more = try pull() else {
                        ended = true
                        try finish()
                        break
                    }
                    (chunk, position) = (more, 0)
                    continue
                }
                let byte = chunk[position]
                position += 1
                try consume(byte)
            }
            defer { ready = nil }
            return ready
        }

        /// Reads until the first three bytes are known, and drops a UTF-8 byte-order mark.
        private func start() throws {
            started = true
            while chunk.count < 3, let more = try pull() { chunk += more }
            if chunk.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
        }

        private func pull() throws -> [UInt8]? {
            if exhausted { return nil }
            guard let more = try read() else {
                exhausted = true
                return nil
            }
            return more
        }

        private func consume(_ c: UInt8) throws {
            if inQuotes {
                if quoteInQuotes {
                    quoteInQuotes = false
                    if c == UInt8(ascii: "\"") {
                        field.append(c)
                        return
                    }
                    // That quote closed the field; this byte is read outside quotes.
                    inQuotes = false
                } else {
                    if c == UInt8(ascii: "\"") {
                        quoteInQuotes = true
                    } else {
                        if c == UInt8(ascii: "\n") { line += 1 }
                        field.append(c)
                    }
                    return
                }
            }
            switch c {
            case UInt8(ascii: ","):
                try endField()
            case UInt8(ascii: "\n"):
                try endRow()
                line += 1
                rowLine = line
            case UInt8(ascii: "\r"):
                break
            case UInt8(ascii: "\""):
                guard field.isEmpty, !quotedField else {
                    throw PaxsyncError(.badInput, "a quote inside an unquoted field; quote the whole field", subject: "\(source):\(line)")
                }
                inQuotes = true
                quotedField = true
            default:
                if quotedField {
                    throw PaxsyncError(.badInput, "text after a closing quote", subject: "\(source):\(line)")
                }
                field.append(c)
            }
        }

        private func finish() throws {
            if inQuotes && !quoteInQuotes {
                throw PaxsyncError(.badInput, "a quoted field is not closed", subject: "\(source):\(rowLine)")
            }
            inQuotes = false
            quoteInQuotes = false
            if !field.isEmpty || !fields.isEmpty { try endRow() }
        }

        private func endField() throws {
            // Invalid UTF-8 (including overlong forms and surrogates) is refused,
            // never replaced: what is signed into the log is what the file says.
            guard let text = String(validating: field, as: UTF8.self) else {
                let column = header.flatMap { fields.count < $0.count ? " (\($0[fields.count]))" : nil } ?? ""
                throw PaxsyncError(.badInput, "column \(fields.count + 1)\(column) is not valid UTF-8; save the file as UTF-8",
                                   subject: "\(source):\(rowLine)")
            }
            fields.append(text)
            field.removeAll(keepingCapacity: true)
            quotedField = false
        }

        private func endRow() throws {
            try endField()
            if !(fields.count == 1 && fields[0].isEmpty) {
                if header == nil { header = fields }
                ready = Row(line: rowLine, fields: fields)
            }
            fields.removeAll(keepingCapacity: true)
        }
    }

    /// Quotes a field when it holds a comma, quote or line break.
    /// Works on UTF-8 bytes, not Characters: a comma or quote followed by a
    /// combining mark (or CR LF) is one Character but still a separator or quote
    /// to the parser.
    public static func escape(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }) else {
            return s
        }
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        for byte in s.utf8 {
            if byte == UInt8(ascii: "\"") { bytes.append(byte) }
            bytes.append(byte)
        }
        bytes.append(UInt8(ascii: "\""))
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func line(_ fields: [String]) -> String { fields.map(escape).joined(separator: ",") + "\n" }
}
