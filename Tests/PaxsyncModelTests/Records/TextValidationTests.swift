import PaxsyncModel
import Testing

/// The text type of PROTOCOL.md §6: 1–200 Unicode scalar values, none of
/// general category Cc (U+0000–U+001F, U+007F–U+009F).
@Suite("Text values")
struct TextValidationTests {
    let text = FieldType.text(maxLength: 200)

    func refusal(_ value: String) -> PaxsyncError? {
        do { try text.validate(.text(value), field: "name") } catch { return error }
        return nil
    }

    @Test("length is counted in Unicode scalar values, not characters, UTF-16 units or bytes", arguments: [
        ("200 × a", String(repeating: "a", count: 200), true),
        ("201 × a", String(repeating: "a", count: 201), false),
        ("100 × e + U+0301: 200 scalars", String(repeating: "e\u{301}", count: 100), true),
        ("200 × e + U+0301: 200 characters but 400 scalars", String(repeating: "e\u{301}", count: 200), false),
        ("200 × U+1F600: 400 UTF-16 units, 800 bytes", String(repeating: "\u{1F600}", count: 200), true),
        ("100 flags of two regional indicators: 200 scalars", String(repeating: "\u{1F1E6}\u{1F1FA}", count: 100), true),
        ("101 flags: 101 characters, 202 scalars", String(repeating: "\u{1F1E6}\u{1F1FA}", count: 101), false),
    ])
    func length(name: String, value: String, accepted: Bool) {
        let error = refusal(value)
        #expect((error == nil) == accepted, "\(name)")
        if let error {
            #expect(error.code == .invalidField)
            #expect(error.description.contains("text is \(value.unicodeScalars.count) Unicode scalar values long; at most 200 are allowed"),
                    "\(error)")
        }
    }

    @Test("200 × e + U+0301 is refused as 400 scalars, though Swift counts 200 characters")
    func combiningSequence() {
        let value = String(repeating: "e\u{301}", count: 200)
        #expect(value.count == 200 && value.unicodeScalars.count == 400)
        #expect(refusal(value)?.description.contains("400 Unicode scalar values") == true)
    }

    @Test("control characters are refused, naming the code point and where it is", arguments: [
        (0x00, "U+0000"), (0x09, "U+0009"), (0x0A, "U+000A"), (0x1F, "U+001F"),
        (0x7F, "U+007F"), (0x80, "U+0080"), (0x85, "U+0085"), (0x9F, "U+009F"),
    ] as [(UInt32, String)])
    func controls(scalar: UInt32, name: String) throws {
        let value = "ab" + String(Unicode.Scalar(scalar)!) + "c"
        let error = try #require(refusal(value), "\(name) was accepted")
        #expect(error.code == .invalidField)
        #expect(error.description.contains("text contains the control character \(name) at scalar 3"), "\(error)")
    }

    @Test("characters outside category Cc are text, even invisible or separating ones", arguments: [
        "\u{20}", "\u{A0}", "\u{AD}", "\u{200B}", "\u{2028}", "\u{2029}", "\u{FEFF}", "\u{E000}", "\u{10FFFF}",
    ])
    func notControls(value: String) {
        #expect(refusal("a" + value + "b") == nil, "U+\(String(value.unicodeScalars.first!.value, radix: 16, uppercase: true))")
    }

    @Test("empty text is refused")
    func empty() {
        #expect(refusal("")?.description.contains("expected non-empty text") == true)
    }

    @Test("the control set is exactly general category Cc, over every Unicode scalar")
    func controlSetIsCc() {
        var mismatches: [UInt32] = []
        var controls = 0
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }   // surrogates
            let isControl = FieldType.isControl(scalar)
            if isControl != (scalar.properties.generalCategory == .control) { mismatches.append(value) }
            if isControl { controls += 1 }
        }
        #expect(mismatches.isEmpty, "differ from Cc: \(mismatches.prefix(10).map { String($0, radix: 16) })")
        #expect(controls == 65, "32 C0 controls, DEL and 32 C1 controls")
    }
}
