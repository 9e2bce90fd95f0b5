// libFuzzer target: the CSV parser and the row checks of `paxsync import`
// (CSVImport.intents is pure: it turns rows into write intents and touches no
// database). Any input may throw; none may trap.
import Foundation
import PaxsyncModel
import PaxsyncStore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Data(bytes: data, count: size)
    let parsed = Result { try CSV.parse(input, source: "fuzz.csv") }

    // Read in small chunks, the file gives the same rows, or the same error.
    let chunk = size == 0 ? 1 : Int(data[0] % 7) + 1
    var rest = Array(input)[...]
    let reader = CSV.Reader(source: "fuzz.csv") {
        guard !rest.isEmpty else { return nil }
        defer { rest = rest.dropFirst(chunk) }
        return Array(rest.prefix(chunk))
    }
    let streamed = Result { () throws -> [CSV.Row] in
        var rows: [CSV.Row] = []
        while let row = try reader.next() { rows.append(row) }
        return rows
    }
    switch (parsed, streamed) {
    case (.success(let a), .success(let b)):
        guard a.map(\.fields) == b.map(\.fields), a.map(\.line) == b.map(\.line) else {
            fatalError("reading in chunks of \(chunk) gives other rows than parsing the whole file")
        }
    case (.failure(let a), .failure(let b)):
        guard "\(a)" == "\(b)" else { fatalError("reading in chunks of \(chunk) fails otherwise: \(b), not \(a)") }
    default:
        fatalError("reading in chunks of \(chunk) and parsing the whole file disagree on whether the file is valid")
    }
    guard case .success(let rows) = parsed else { return 0 }

    // What CSV.line writes, CSV.parse reads back as the same fields. (Skipped
    // when the first field starts with U+FEFF: parse strips a leading byte-order
    // mark, so such a field cannot come back; export's first row is the header.)
    if rows.first?.fields.first?.unicodeScalars.first != "\u{FEFF}" {
        let text = rows.map { CSV.line($0.fields) }.joined()
        guard let again = try? CSV.parse(Data(text.utf8), source: "fuzz again.csv"),
              again.map(\.fields) == rows.map(\.fields) else {
            fatalError("CSV.line output does not parse back to the same fields")
        }
    }

    // Row validation against every table, by the node that owns the records.
    for table in Schema.tables {
        _ = try? CSVImport.intents(table: table, data: input, source: "fuzz.csv", nodeID: "AU")
    }
    return 0
}
