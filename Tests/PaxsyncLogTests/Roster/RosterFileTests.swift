import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncTestSupport
import Testing

/// `roster.json` as PROTOCOL.md §2.1 specifies it.
@Suite("Roster file")
struct RosterFileTests {
    /// The example roster of PROTOCOL.md §2.1: the first JSON block after its heading.
    static func specExample() throws -> String {
        let text = try String(contentsOf: packageRoot.appendingPathComponent("Protocol/PROTOCOL.md"), encoding: .utf8)
        let section = try #require(text.range(of: "### 2.1 The roster file"), "PROTOCOL.md has no §2.1")
        let open = try #require(text.range(of: "```json\n", range: section.upperBound..<text.endIndex))
        let close = try #require(text.range(of: "```", range: open.upperBound..<text.endIndex))
        return String(text[open.upperBound..<close.lowerBound])
    }

    @Test("the example in PROTOCOL.md decodes, validates, and lists the test vectors' keys")
    func specExampleIsValid() throws {
        let roster = try Roster.decode(Data(try Self.specExample().utf8), source: "PROTOCOL.md §2.1")
        #expect(roster.format == 1 && roster.members.map(\.id) == ["AU", "JP"])
        let vectors = try loadVectors()
        for member in vectors.members {
            #expect(roster.member(member.id)?.publicKeyBytes.hex == member.publicKeyHex, "\(member.id): base64 here, hex in the vectors")
        }
    }

    @Test("what paxsync writes is what §2.1 shows: sorted keys, the example byte for byte")
    func writtenLayout() throws {
        let example = try Roster.decode(Data(try Self.specExample().utf8), source: "example")
        #expect(String(decoding: example.encoded(), as: UTF8.self) == (try Self.specExample()))
    }

    @Test("fields paxsync does not know are ignored")
    func unknownFields() throws {
        var json = try Self.specExample()
        json = json.replacingOccurrences(of: "\"format\" : 1,", with: "\"format\" : 1, \"comment\" : \"from the 2026 summit\",")
        #expect(try Roster.decode(Data(json.utf8), source: "r.json").members.count == 2)
    }

    @Test("a roster that breaks a rule is refused, naming the file, the member and the rule", arguments: [
        ("\"format\" : 1", "\"format\" : 2", "roster format 2 is not supported (expected 1)"),
        ("\"id\" : \"JP\"", "\"id\" : \"AU\"", "member AU: member listed twice"),
        ("\"id\" : \"JP\"", "\"id\" : \"jp\"", "member jp: member id must be 2–16 uppercase letters or digits"),
        ("\"country\" : \"JP\"", "\"country\" : \"XX\"", "member JP: country \"XX\" is not an ISO 3166-1 alpha-2 code"),
        ("\"name\" : \"Japan\"", "\"name\" : \"\"", "member JP: name is empty"),
        // 31 bytes; the same 32 bytes without padding; with the padding bits set (decodes to the same bytes elsewhere).
        ("ANglulQICGpe0vzFiIS9ImqDLwYq8X8ma9cIZBUlOzk=", "ANglulQICGpe0vzFiIS9ImqDLwYq8X8ma9cIZBUlOw==", "member JP: signingKey must be"),
        ("ANglulQICGpe0vzFiIS9ImqDLwYq8X8ma9cIZBUlOzk=", "ANglulQICGpe0vzFiIS9ImqDLwYq8X8ma9cIZBUlOzk", "member JP: signingKey must be"),
        ("ANglulQICGpe0vzFiIS9ImqDLwYq8X8ma9cIZBUlOzk=", "ANglulQICGpe0vzFiIS9ImqDLwYq8X8ma9cIZBUlOzl=", "member JP: signingKey must be"),
        ("\"address\" : \"jp.example.org:7400\",", "", "not a valid roster file"),
    ])
    func refusals(original: String, replacement: String, message: String) throws {
        let example = try Self.specExample()
        #expect(example.contains(original))
        let json = example.replacingOccurrences(of: original, with: replacement)
        #expect {
            try Roster.decode(Data(json.utf8), source: "roster.json")
        } throws: { error in
            "\(error)".contains("roster.json") && "\(error)".contains(message)
        }
    }

    @Test("one key, three spellings: base64 in the roster, raw 32 bytes in a bundle header, hex in the vectors")
    func keyEncodings() throws {
        let roster = try Roster.decode(Data(try Self.specExample().utf8), source: "example")
        let header = BundleFormat.encodeHeader(.init(exportedBy: "AU", exportedAtMilliseconds: 0, roster: roster, entryCount: 0))
        let vectors = try loadVectors()
        for member in roster.members {
            let published = try #require(vectors.members.first { $0.id == member.id })
            let raw = try #require([UInt8](hex: published.publicKeyHex))
            #expect(raw.count == 32 && member.publicKeyBytes == raw)
            // Member.signing_key (field 4): tag 0x22, length 32, the raw bytes; never the base64 text.
            #expect(Self.contains(header, [0x22, 32] + raw), "\(member.id)'s raw key in the header")
            #expect(!Self.contains(header, Array(member.signingKey.utf8)))
        }
        #expect(try BundleFormat.decodeHeader(header, source: "header").roster.members == roster.members)
    }

    static func contains(_ bytes: [UInt8], _ part: [UInt8]) -> Bool {
        guard part.count <= bytes.count else { return false }
        return (0...(bytes.count - part.count)).contains { Array(bytes[$0..<($0 + part.count)]) == part }
    }
}
