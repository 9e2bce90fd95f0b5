import Foundation
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("CSV parsing")
struct CSVParsingTests {
    static let header = Array("id,name,kind,country,latitude,longitude\nAU-A,A,mine,AU,1,1\nAU-B,".utf8)

    @Test("invalid UTF-8 is refused naming line and column, never replaced", arguments: [
        ("a lone continuation byte", [0x80] as [UInt8]),
        ("a truncated sequence", [0xC3, 0x28]),
        ("an overlong slash", [0xC0, 0xAF]),
        ("an overlong NUL", [0xE0, 0x80, 0x80]),
        ("a UTF-16 surrogate", [0xED, 0xA0, 0x80]),
        ("beyond U+10FFFF", [0xF4, 0x90, 0x80, 0x80]),
    ])
    func invalidUTF8(what: String, bytes: [UInt8]) {
        let data = Data(Self.header + Array("Bad ".utf8) + bytes + Array(",mine,AU,1,1\n".utf8))
        #expect { try CSV.parse(data, source: "f.csv") } throws: { error in
            "\(error)".contains("f.csv:3") && "\(error)".contains("column 2 (name) is not valid UTF-8")
        }
    }

    @Test("valid multi-byte UTF-8 passes unchanged")
    func validUTF8() throws {
        let data = Data(Self.header + Array("Île-de-Ré ✓,mine,AU,1,1\n".utf8))
        let rows = try CSV.parse(data, source: "f.csv")
        #expect(rows.last?.fields[1] == "Île-de-Ré ✓")
    }

    @Test("a field whose comma or quote carries a combining mark is quoted, and parses back the same", arguments: [
        "Port Hedland,\u{301} West", "Quay, \"\u{301}North", "\"\u{64E}", "two\r\nlines",
    ])
    func escapeRoundTrip(field: String) throws {
        let line = CSV.line(["AU-A", field, "mine"])
        let rows = try CSV.parse(Data(line.utf8), source: "x.csv")
        #expect(rows.map(\.fields) == [["AU-A", field, "mine"]], "\(line)")
    }
}

@Suite("CSV reading in chunks")
struct CSVReaderTests {
    enum Outcome: Equatable {
        /// Each row as its line number, then its fields.
        case rows([[String]])
        case failure(String)
    }

    /// Rows and lines read from `bytes` handed over `size` bytes at a time, or the error's text.
    func read(_ bytes: [UInt8], chunk size: Int) -> Outcome {
        var rest = bytes[...]
        let reader = CSV.Reader(source: "f.csv") {
            guard !rest.isEmpty else { return nil }
            defer { rest = rest.dropFirst(size) }
            return Array(rest.prefix(size))
        }
        do {
            var rows: [[String]] = []
            while let row = try reader.next() { rows.append(["\(row.line)"] + row.fields) }
            return .rows(rows)
        } catch {
            return .failure("\(error)")
        }
    }

    @Test("any chunk size reads the same rows, lines and errors as the whole file at once", arguments: [
        "\u{FEFF}a,b\r\n\"x, \"\"y\"\"\",2\r\n",
        "id,name\nAU-A,\"two\nlines\"\nAU-B,\"\"\"\"\n",
        "a,b\n\"\",\"\"\n\n\nc,d",
        "a\n\"ends in a quote\"\"\"",
        "a\n\"open",
        "a\nx\"y\n",
        "a\n\"q\"z\n",
        "",
        "\u{FEFF}",
        "\u{FEFF}\u{FEFF}x\n",
    ])
    func chunkSizes(text: String) throws {
        let bytes = Array(text.utf8)
        let whole = read(bytes, chunk: max(bytes.count, 1))
        for size in [1, 2, 3, 5, 64] {
            #expect(read(bytes, chunk: size) == whole, "chunks of \(size)")
        }
        // And the whole-file parser, which the reader serves, agrees.
        switch whole {
        case .rows(let rows):
            #expect(try CSV.parse(Data(bytes), source: "f.csv").map { ["\($0.line)"] + $0.fields } == rows)
        case .failure(let message):
            #expect { try CSV.parse(Data(bytes), source: "f.csv") } throws: { "\($0)" == message }
        }
    }

    @Test("a file read from disk in small chunks gives the rows written to it")
    func file() throws {
        let dir = TemporaryDirectory("paxsync-csv-reader")
        let rows = (0..<500).map { ["AU-\($0)", "name, \"\($0)\"", "Île \($0)"] }
        let path = dir.file("rows.csv")
        try rows.map(CSV.line).joined().write(toFile: path, atomically: true, encoding: .utf8)
        let reader = try CSV.Reader(file: path, source: "rows.csv", chunkSize: 7)
        var read: [[String]] = []
        while let row = try reader.next() { read.append(row.fields) }
        #expect(read == rows)
    }
}
