import PaxsyncControl
import PaxsyncModel
import Testing

@Suite("Admin socket requests (framing and commands)")
struct AdminRequestTests {
    /// The outcome of `bytes` delivered in pieces of `size`.
    func outcome(_ bytes: [UInt8], pieces size: Int) -> AdminRequest.Outcome {
        var request = AdminRequest()
        var outcome = AdminRequest.Outcome.incomplete
        for start in stride(from: 0, to: bytes.count, by: size) {
            outcome = request.append(bytes[start..<min(start + size, bytes.count)])
        }
        return outcome
    }

    @Test("a command line is read up to its newline, blanks trimmed, in any pieces")
    func line() {
        for size in [1, 2, 5, 100] {
            #expect(outcome(Array("status\n".utf8), pieces: size) == .line("status"))
            #expect(outcome(Array(" \twake \r\nignored\n".utf8), pieces: size) == .line("wake"))
            #expect(outcome(Array("stat".utf8), pieces: size) == .incomplete)
        }
        #expect(outcome(Array("\n".utf8), pieces: 1) == .line(""))
    }

    @Test("a line over 1 KiB is refused whatever the pieces, even when its newline arrives in the same piece")
    func tooLong() {
        let long = Array(repeating: UInt8(ascii: "a"), count: AdminRequest.maxBytes + 1) + [UInt8(ascii: "\n")]
        let limit = Array(repeating: UInt8(ascii: "a"), count: AdminRequest.maxBytes) + [UInt8(ascii: "\n")]
        for size in [1, 7, 1_000, 5_000] {
            #expect(outcome(long, pieces: size) == .tooLong)
            #expect(outcome(limit, pieces: size) == .line(String(repeating: "a", count: AdminRequest.maxBytes)))
        }
        // Refused once known to be too long, before any newline.
        var request = AdminRequest()
        #expect(request.append(Array(repeating: UInt8(ascii: "a"), count: AdminRequest.maxBytes)) == .incomplete)
        #expect(request.append([UInt8(ascii: "a")]) == .tooLong)
        #expect(request.append(Array("status\n".utf8)) == .tooLong)
    }

    @Test("bytes that are not UTF-8 make an unknown command, never a known one")
    func notUTF8() throws {
        let result = outcome([0x73, 0x74, 0x61, 0xFF, 0x74, 0x75, 0x73, 0x0A], pieces: 3)
        guard case .line(let line) = result else { Issue.record("not a line: \(result)"); return }
        #expect(line == "sta\u{FFFD}tus")
        #expect(throws: PaxsyncError.self) { try AdminCommand(parsing: line) }
    }

    @Test("commands: known ones parse; an unknown one is named, cut to 40 characters, with the known ones")
    func commands() throws {
        #expect(try AdminCommand(parsing: "status") == .status)
        #expect(try AdminCommand(parsing: "wake") == .wake)
        #expect {
            try AdminCommand(parsing: "STATUS" + String(repeating: "x", count: 100))
        } throws: { error in
            (error as? PaxsyncError)?.message == "unknown command \"STATUS\(String(repeating: "x", count: 34))\"; send status or wake"
        }
    }
}
