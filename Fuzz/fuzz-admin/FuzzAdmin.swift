// libFuzzer target: the admin socket's request framing (one command line of at
// most 1 KiB) and command parsing. Any input may be refused; none may trap, and
// the outcome must not depend on how the socket splits the bytes.
import PaxsyncControl

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    var whole = AdminRequest()
    let all = whole.append(input)

    // The same bytes in pieces of 1 to 64 (from the first byte), and in pieces of
    // growing size: the same outcome, reached at the latest on the last piece.
    let chunk = size == 0 ? 1 : Int(data[0] % 64) + 1
    for pieces in [stride(from: 0, to: input.count, by: chunk).map { $0..<min($0 + chunk, input.count) }, growing(input.count)] {
        var reader = AdminRequest()
        var outcome = reader.append([UInt8]())
        for piece in pieces { outcome = reader.append(input[piece]) }
        guard outcome == all else { fatalError("in pieces \(pieces.prefix(4))…: \(outcome), whole: \(all)") }
        // Once decided, more bytes change nothing.
        guard all == .incomplete || reader.append(input) == all else { fatalError("a decided request changed with more bytes") }
    }

    switch all {
    case .incomplete:
        guard !input.contains(UInt8(ascii: "\n")), input.count <= AdminRequest.maxBytes else {
            fatalError("incomplete although the input has a newline or is over the limit")
        }
    case .tooLong:
        let line = input.prefix { $0 != UInt8(ascii: "\n") }
        guard line.count > AdminRequest.maxBytes else { fatalError("a line of \(line.count) bytes refused as too long") }
    case .line(let line):
        if let command = try? AdminCommand(parsing: line) {
            guard command.rawValue == line else { fatalError("\"\(line)\" parsed as \(command)") }
        }
    }
    return 0
}

/// Ranges of sizes 1, 2, 3, … covering 0..<count.
func growing(_ count: Int) -> [Range<Int>] {
    var ranges: [Range<Int>] = []
    var start = 0, size = 1
    while start < count {
        ranges.append(start..<min(start + size, count))
        start += size
        size += 1
    }
    return ranges
}
