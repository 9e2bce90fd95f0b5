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
        var rows: [Row] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var rowLine = 1
        var inQuotes = false
        var quotedField = false
        var i = data.startIndex
        let bytes = data
        var header: [String]?
        func endField() throws {
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
        func endRow() throws {
            try endField()
            if !(fields.count == 1 && fields[0].isEmpty) {
                if header == nil { header = fields }
                rows.append(Row(line: rowLine, fields: fields))
            }
            fields.removeAll(keepingCapacity: true)
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i += 3 }
        while i < bytes.endIndex {
            let c = bytes[i]
            if inQuotes {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < bytes.endIndex, bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(c)
                        i += 1
                    } else {
                        inQuotes = false
                    }
                } else {
                    if c == UInt8(ascii: "\n") { line += 1 }
                    field.append(c)
                }
            } else {
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
            i += 1
        }
        if inQuotes { throw PaxsyncError(.badInput, "a quoted field is not closed", subject: "\(source):\(rowLine)") }
        if !field.isEmpty || !fields.isEmpty { try endRow() }
        return rows
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
