import Foundation
import PaxsyncModel
import PaxsyncStore
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
