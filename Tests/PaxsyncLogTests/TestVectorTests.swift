import Crypto
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncTestSupport
import Testing

/// Protocol/test-vectors.json: exact keys, bodies, hashes and signatures that
/// any implementation of PROTOCOL.md must reproduce. Regenerate (only when the
/// format changes on purpose) with `PAXSYNC_WRITE_VECTORS=1 swift test --filter TestVector`.
struct TestVectors: Codable, Equatable {
    struct Member: Codable, Equatable {
        let id: String
        let privateKeyHex: String
        let publicKeyHex: String
    }
    struct Entry: Codable, Equatable {
        let name: String
        let entry: String
        let bodyHex: String
        let signingInputHex: String
        let signatureHex: String
        let hashHex: String
        let prevHashHex: String
        let valid: Bool
    }
    struct DigestVector: Codable, Equatable {
        let description: String
        let rows: [[String]]
        let digestHex: String
    }
    /// Text values at the §6 boundaries: 1–200 Unicode scalar values, none of category Cc.
    struct TextVectors: Codable, Equatable {
        struct Value: Codable, Equatable {
            let description: String
            let utf8Hex: String
            let scalars: Int
            let valid: Bool
        }
        let description: String
        let maxScalars: Int
        let values: [Value]
    }
    /// One shared-record table as §9 encodes it: its columns, and its live rows
    /// in digest order, each cell tagged like the §9 stream (`S:text`, `I:42`,
    /// `F:-28.86`, `N`).
    struct TableRows: Codable, Equatable {
        let name: String
        let columns: [String]
        let rows: [[String]]
    }
    /// A state given as rows, with its digest.
    struct RowsDigestVector: Codable, Equatable {
        let description: String
        let tables: [TableRows]
        let digestHex: String
    }
    /// A log of several origins, the state it merges to, its open conflicts and its digest.
    struct StateVector: Codable, Equatable {
        struct Entry: Codable, Equatable {
            let entry: String
            let bodyHex: String
            let signatureHex: String
            let hashHex: String
        }
        struct Conflict: Codable, Equatable {
            let table: String
            let key: String
            let field: String
            let decision: String
            let winnerEntry: String
            let winnerValue: String
            let loserEntry: String
            let loserValue: String
        }
        let description: String
        let entries: [Entry]
        let tables: [TableRows]
        let conflicts: [Conflict]
        let digestHex: String
    }
    let format: Int
    let note: String
    let signingContextHex: String
    let members: [Member]
    let entries: [Entry]
    let digest: DigestVector
    let text: TextVectors
    let keyOrderDigest: RowsDigestVector
    let state: StateVector
}

func repositoryRoot() -> URL {
    packageRoot
}

/// The coalition whose test keys the vectors publish (AU and JP).
let vectorCoalition = TestCoalition(["AU", "JP"], seed: 42)

func loadVectors() throws -> TestVectors {
    try JSONDecoder().decode(TestVectors.self, from: Data(contentsOf: repositoryRoot().appendingPathComponent("Protocol/test-vectors.json")))
}

func makeVectors() throws -> TestVectors {
    let c = vectorCoalition
    let first = c.sign(sampleChangeSet())
    var secondCS = sampleChangeSet(seq: 2, prev: first.hash)
    secondCS.hlc = HLC(physicalMilliseconds: TestTime.start + 1000, logical: 0)
    secondCS.changes = [secondCS.changes[3]]
    secondCS.note = ""
    let second = c.sign(secondCS)
    var forgedSig = second.signature
    forgedSig[0] ^= 0x01

    func vector(_ name: String, _ e: SignedEntry, signature: [UInt8]? = nil, valid: Bool = true) -> TestVectors.Entry {
        TestVectors.Entry(name: name, entry: e.id.description, bodyHex: e.body.hex,
                          signingInputHex: (SignedEntry.signingContext + e.body).hex,
                          signatureHex: (signature ?? e.signature).hex, hashHex: e.hash.hex,
                          prevHashHex: e.changeSet.prevHash.hex, valid: valid)
    }
    var d = StateDigest()
    let rows: [[FieldValue]] = [[.text("AU-MTWELD"), .text("AU"), .text("Mount Weld"), .text("mine"), .text("AU"), .real(-28.86), .real(122.55)]]
    for table in Schema.tables {
        d.beginTable(table.name)
        if table.name == "facilities" { rows.forEach { d.addRow($0) } }
    }
    return TestVectors(
        format: 1,
        note: "Test keys only. Ed25519 per RFC 8032 (deterministic); SHA-256; protobuf bodies as in Protocol/paxsync_log.proto.",
        signingContextHex: SignedEntry.signingContext.hex,
        members: c.ids.map { id in
            TestVectors.Member(id: id, privateKeyHex: Array(c.keys[id]!.key.rawRepresentation).hex,
                               publicKeyHex: Array(c.keys[id]!.key.publicKey.rawRepresentation).hex)
        },
        entries: [
            vector("AU:1, every operation and value type", first),
            vector("AU:2, chained to AU:1", second),
            vector("AU:2 with one signature bit flipped: must not verify", second, signature: forgedSig, valid: false),
        ],
        digest: TestVectors.DigestVector(
            description: "State digest of a replica holding only the facility AU-MTWELD (columns id, owner, name, kind, country, latitude, longitude); other tables empty",
            rows: rows.map { $0.map(\.description) }, digestHex: d.finalize()),
        text: textVectors(),
        keyOrderDigest: TestVectors.RowsDigestVector(
            description: "Rows are ordered column by column (PROTOCOL.md §9): AU-MTWELD sorts before AU-MTWELD-2 because it is a prefix of it, "
                + "although the joined keys sort the other way (\"AU-MTWELD-2/Nd/oxide\" < \"AU-MTWELD/Nd/oxide\", '-' being 0x2D and '/' 0x2F). "
                + "Only the stocks table has rows.",
            tables: keyOrderTables, digestHex: try SpecDigest.digest(tables: keyOrderTables)),
        state: TestVectors.StateVector(
            description: StateVectorScenario.description, entries: try StateVectorScenario.entries(c).map { e in
                TestVectors.StateVector.Entry(entry: e.id.description, bodyHex: e.body.hex, signatureHex: e.signature.hex, hashHex: e.hash.hex)
            },
            tables: StateVectorScenario.tables, conflicts: StateVectorScenario.conflicts,
            digestHex: try SpecDigest.digest(tables: StateVectorScenario.tables)))
}

/// Text values at the boundaries of PROTOCOL.md §6, with the verdict the text
/// of §6 gives (written here, not computed by the implementation).
func textVectors() -> TestVectors.TextVectors {
    let cases: [(String, String, Bool)] = [
        ("one scalar", "a", true),
        ("200 × 'a': the longest text", String(repeating: "a", count: 200), true),
        ("201 × 'a': one scalar too many", String(repeating: "a", count: 201), false),
        ("100 × 'e' U+0301: 100 grapheme clusters, 200 scalars", String(repeating: "e\u{301}", count: 100), true),
        ("200 × 'e' U+0301: 200 grapheme clusters but 400 scalars", String(repeating: "e\u{301}", count: 200), false),
        ("200 × U+1F600: 200 scalars, 400 UTF-16 units, 800 UTF-8 bytes", String(repeating: "\u{1F600}", count: 200), true),
        ("201 × U+1F600", String(repeating: "\u{1F600}", count: 201), false),
        ("empty", "", false),
        ("a single space", " ", true),
        ("U+0000", "a\u{0}b", false),
        ("U+0009 (tab)", "a\tb", false),
        ("U+000A (line feed)", "a\nb", false),
        ("U+001F", "a\u{1F}b", false),
        ("U+007F (delete)", "a\u{7F}b", false),
        ("U+0080", "a\u{80}b", false),
        ("U+0085 (next line)", "a\u{85}b", false),
        ("U+009F", "a\u{9F}b", false),
        ("U+00A0 (no-break space): category Zs, not Cc", "a\u{A0}b", true),
        ("U+200B (zero width space): category Cf, not Cc", "a\u{200B}b", true),
        ("U+2028 (line separator): category Zl, not Cc", "a\u{2028}b", true),
    ]
    return TestVectors.TextVectors(
        description: "Values of the text type (PROTOCOL.md §6): 1 to 200 Unicode scalar values, none of general category Cc "
            + "(U+0000–U+001F, U+007F–U+009F). utf8Hex is the value's UTF-8; valid says whether a node accepts it.",
        maxScalars: 200,
        values: cases.map { description, text, valid in
            TestVectors.TextVectors.Value(description: description, utf8Hex: Array(text.utf8).hex,
                                          scalars: text.unicodeScalars.count, valid: valid)
        })
}

/// The key-order vector's rows, written out by hand in the order §9 gives.
let keyOrderTables: [TestVectors.TableRows] = [
    .init(name: "facilities", columns: SpecDigest.columns["facilities"]!, rows: []),
    .init(name: "stocks", columns: SpecDigest.columns["stocks"]!, rows: [
        ["S:AU-MTWELD", "S:Nd", "S:oxide", "I:1200", "F:99.5", "S:2026-11-28"],
        ["S:AU-MTWELD-2", "S:Nd", "S:oxide", "I:800", "N", "S:2026-11-28"],
    ]),
    .init(name: "shipments", columns: SpecDigest.columns["shipments"]!, rows: []),
    .init(name: "reserve_pledges", columns: SpecDigest.columns["reserve_pledges"]!, rows: []),
]

@Suite("Test vectors")
struct TestVectorTests {
    let url = repositoryRoot().appendingPathComponent("Protocol/test-vectors.json")

    @Test("the committed vectors are exactly what this implementation produces")
    func matchesImplementation() throws {
        let vectors = try makeVectors()
        let committed = try VectorFile.committed(vectors, at: url)
        #expect(committed == vectors)
    }

    @Test("every committed vector checks from its bytes alone: decode, hash, chain, signature")
    func checkFromBytes() throws {
        let v = try JSONDecoder().decode(TestVectors.self, from: Data(contentsOf: url))
        let keys = Dictionary(uniqueKeysWithValues: v.members.map { ($0.id, [UInt8](hex: $0.publicKeyHex)!) })
        for m in v.members {
            let priv = try Curve25519.Signing.PrivateKey(rawRepresentation: [UInt8](hex: m.privateKeyHex)!)
            #expect(Array(priv.publicKey.rawRepresentation).hex == m.publicKeyHex)
        }
        var lastHash: [String: String] = [:]
        for e in v.entries {
            let entry = try SignedEntry(body: [UInt8](hex: e.bodyHex)!, signature: [UInt8](hex: e.signatureHex)!)
            #expect(entry.id.description == e.entry)
            #expect(entry.hash.hex == e.hashHex)
            #expect((SignedEntry.signingContext + entry.body).hex == e.signingInputHex)
            #expect(entry.verify(publicKey: keys[entry.changeSet.origin]!) == e.valid, "\(e.name)")
            if e.valid {
                #expect(e.prevHashHex == (lastHash[entry.changeSet.origin] ?? ""), "\(e.name)")
                lastHash[entry.changeSet.origin] = e.hashHex
            }
        }
        // The state vector's log is a log of its own: each origin's chain starts again at 1.
        var head: [String: (seq: UInt64, hash: [UInt8])] = [:]
        for e in v.state.entries {
            let entry = try SignedEntry(body: try #require([UInt8](hex: e.bodyHex)), signature: try #require([UInt8](hex: e.signatureHex)))
            let origin = entry.changeSet.origin
            #expect(entry.id.description == e.entry)
            #expect(entry.hash.hex == e.hashHex, "\(e.entry)")
            let key = try #require(keys[origin], "\(e.entry): no key for \(origin)")
            #expect(entry.verify(publicKey: key), "\(e.entry)")
            #expect(entry.changeSet.seq == (head[origin]?.seq ?? 0) + 1, "\(e.entry) follows its origin's previous entry")
            #expect(entry.changeSet.prevHash == (head[origin]?.hash ?? []), "\(e.entry) chains to its origin's previous entry")
            for (dep, seq) in entry.changeSet.deps {
                #expect((head[dep]?.seq ?? 0) >= seq, "\(e.entry) comes after its dependency \(dep):\(seq)")
            }
            head[origin] = (entry.changeSet.seq, entry.hash)
        }
    }

    @Test("the text vectors give the scalar count and the verdict of §6, and the validation agrees")
    func textValues() throws {
        let v = try loadVectors().text
        #expect(v.maxScalars == 200)
        #expect(v.values.count >= 10)
        for value in v.values {
            let bytes = try #require([UInt8](hex: value.utf8Hex), "\(value.description)")
            let text = try #require(String(validating: bytes, as: UTF8.self), "\(value.description): not UTF-8")
            #expect(text.unicodeScalars.count == value.scalars, "\(value.description)")
            // §6 from its text: 1–200 scalars, none in U+0000–U+001F or U+007F–U+009F.
            let bySpec = (1...v.maxScalars).contains(value.scalars)
                && !text.unicodeScalars.contains { $0.value <= 0x1F || (0x7F...0x9F).contains($0.value) }
            #expect(bySpec == value.valid, "\(value.description): the committed verdict contradicts §6")
            let accepted: Bool
            do {
                try FieldType.text(maxLength: v.maxScalars).validate(.text(text), field: "name")
                accepted = true
            } catch {
                accepted = false
            }
            #expect(accepted == value.valid, "\(value.description)")
        }
    }
}

/// The state digest's byte stream as PROTOCOL.md §9 describes it, written out
/// here from the text alone (not with `StateDigest`), so the committed vector
/// and the implementation are both checked against the specification.
enum SpecDigest {
    enum Cell {
        case null
        case integer(Int64)
        case real(Double)
        case text(String)
    }

    /// §9 item 2: the four tables in this order.
    static let tableOrder = ["facilities", "stocks", "shipments", "reserve_pledges"]

    /// §9's column order table.
    static let columns: [String: [String]] = [
        "facilities": ["id", "owner", "name", "kind", "country", "latitude", "longitude"],
        "stocks": ["facility_id", "mineral", "form", "quantity_kg", "grade_pct", "as_of"],
        "shipments": ["id", "exporter", "mineral", "form", "quantity_kg", "from_facility", "to_facility", "importer", "carrier",
                      "departed_at", "eta", "arrived_at", "status"],
        "reserve_pledges": ["reserve_id", "mineral", "member", "share_kg"],
    ]

    static func bigEndian32(_ n: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: UInt32(n) >> $0) } }
    static func bigEndian64(_ n: UInt64) -> [UInt8] { [56, 48, 40, 32, 24, 16, 8, 0].map { UInt8(truncatingIfNeeded: n >> $0) } }

    /// SHA-256, lowercase hex, of the stream for `rows` by table name (tables absent are empty).
    static func digest(_ rows: [String: [[Cell]]]) -> String {
        var stream = Array("paxsync-state-v1".utf8) + [0x00]
        for table in tableOrder {
            stream += [0x54] + bigEndian32(table.utf8.count) + Array(table.utf8)   // "T"
            for row in rows[table] ?? [] {
                stream.append(0x52)   // "R"
                for cell in row {
                    switch cell {
                    case .null: stream.append(0x4E)   // "N"
                    case .integer(let i): stream += [0x49] + bigEndian64(UInt64(bitPattern: i))   // "I"
                    case .real(let d): stream += [0x46] + bigEndian64(d == 0 ? 0 : d.bitPattern)   // "F", −0.0 as +0.0
                    case .text(let s): stream += [0x53] + bigEndian32(s.utf8.count) + Array(s.utf8)   // "S"
                    }
                }
            }
        }
        return SHA256.hash(data: stream).map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }

    struct BadVector: Error, CustomStringConvertible {
        let description: String
    }

    /// A vector cell: `N`, `I:<decimal>`, `F:<decimal double>` or `S:<text>`.
    static func cell(_ tagged: String) throws -> Cell {
        if tagged == "N" { return .null }
        let value = String(tagged.dropFirst(2))
        switch tagged.prefix(2) {
        case "I:": if let i = Int64(value) { return .integer(i) }
        case "F:": if let d = Double(value), d.isFinite { return .real(d) }
        case "S:": return .text(value)
        default: break
        }
        throw BadVector(description: "\"\(tagged)\" is not a vector cell (N, I:…, F:… or S:…)")
    }

    /// SHA-256 of the §9 stream of `tables`, which must be the four tables in §9 order, rows as given.
    static func digest(tables: [TestVectors.TableRows]) throws -> String {
        guard tables.map(\.name) == tableOrder else {
            throw BadVector(description: "tables \(tables.map(\.name)) are not the four tables in §9 order")
        }
        var rows: [String: [[Cell]]] = [:]
        for table in tables {
            guard table.columns == columns[table.name] else {
                throw BadVector(description: "\(table.name) has columns \(table.columns), §9 says \(columns[table.name] ?? [])")
            }
            rows[table.name] = try table.rows.map { row in
                guard row.count == table.columns.count else {
                    throw BadVector(description: "a row of \(table.name) has \(row.count) cells for \(table.columns.count) columns")
                }
                return try row.map(cell)
            }
        }
        return digest(rows)
    }

    /// §9's row order: the key columns compared one after another, each by its
    /// UTF-8 bytes, a column that is a prefix of the other's sorting first.
    static func precedes(_ a: [String], _ b: [String], keyColumns: Int) -> Bool {
        for (x, y) in zip(a.prefix(keyColumns), b.prefix(keyColumns)) where x != y {
            return Array(x.utf8).lexicographicallyPrecedes(Array(y.utf8))
        }
        return false
    }
}

@Suite("State digest against PROTOCOL.md §9")
struct StateDigestSpecTests {
    @Test("the committed digest vector is SHA-256 of the §9 byte stream, encoded from the text")
    func committedVector() throws {
        let v = try JSONDecoder().decode(TestVectors.self, from: Data(contentsOf: repositoryRoot().appendingPathComponent("Protocol/test-vectors.json")))
        // Columns id, owner, name, kind, country (text), latitude, longitude (reals, §9).
        let rows: [[SpecDigest.Cell]] = try v.digest.rows.map { row in
            try #require(row.count == 7)
            return try row[0..<5].map { .text($0) } + row[5..<7].map { .real(try #require(Double($0))) }
        }
        #expect(rows.count == 1)
        #expect(v.digest.digestHex == SpecDigest.digest(["facilities": rows]))
    }

    @Test("StateDigest encodes null, integers, reals (−0.0 as +0.0, whole reals as reals) and UTF-8 text as §9 says")
    func everyValueType() {
        let stock: [FieldValue] = [.text("AU-MTWELD"), .text("Nd"), .text("oxide"), .text("AU"), .integer(-5), .null, .text("2026-11-28")]
        let facility: [FieldValue] = [.text("JP-KŌBE"), .text("JP"), .text("神戸"), .text("port"), .text("JP"), .real(-0.0), .real(135)]
        var implementation = StateDigest()
        for table in SpecDigest.tableOrder {
            implementation.beginTable(table)
            if table == "facilities" { implementation.addRow(facility) }
            if table == "stocks" { implementation.addRow(stock) }
        }
        let spec = SpecDigest.digest([
            "facilities": [[.text("JP-KŌBE"), .text("JP"), .text("神戸"), .text("port"), .text("JP"), .real(0.0), .real(135.0)]],
            "stocks": [[.text("AU-MTWELD"), .text("Nd"), .text("oxide"), .text("AU"), .integer(-5), .null, .text("2026-11-28")]],
        ])
        #expect(implementation.finalize() == spec)
        // And the encoding matters: an integer where a real belongs changes the digest.
        let wrongType = SpecDigest.digest([
            "facilities": [[.text("JP-KŌBE"), .text("JP"), .text("神戸"), .text("port"), .text("JP"), .real(0.0), .integer(135)]],
            "stocks": [[.text("AU-MTWELD"), .text("Nd"), .text("oxide"), .text("AU"), .integer(-5), .null, .text("2026-11-28")]],
        ])
        #expect(wrongType != spec)
        #expect(SpecDigest.digest([:]) == { var empty = StateDigest(); SpecDigest.tableOrder.forEach { empty.beginTable($0) }; return empty.finalize() }())
    }

    /// The key columns' values of each row (cells `S:…`), for ordering checks.
    static func keys(_ table: TestVectors.TableRows) throws -> [[String]] {
        let count = try #require(Schema.table(named: table.name)).key.count
        return try table.rows.map { row in
            try row.prefix(count).map { cell in
                guard cell.hasPrefix("S:") else { throw SpecDigest.BadVector(description: "key cell \(cell) of \(table.name) is not text") }
                return String(cell.dropFirst(2))
            }
        }
    }

    @Test("the key-order vector's digest is SHA-256 of the §9 stream, its rows column by column, not by joined key")
    func keyOrderVector() throws {
        let v = try loadVectors().keyOrderDigest
        #expect(v.tables == keyOrderTables)
        #expect(v.digestHex == (try SpecDigest.digest(tables: v.tables)))
        let stocks = try #require(v.tables.first { $0.name == "stocks" })
        let keys = try Self.keys(stocks)
        #expect(keys.map { $0[0] } == ["AU-MTWELD", "AU-MTWELD-2"])
        #expect(SpecDigest.precedes(keys[0], keys[1], keyColumns: 3), "column by column, AU-MTWELD is a prefix of AU-MTWELD-2")
        #expect(keys[1].joined(separator: "/") < keys[0].joined(separator: "/"),
                "the vector only tells the two orders apart if the joined keys sort the other way")
        // And the order is in the digest: the joined-key order gives another one.
        let joinedOrder = v.tables.map { table in
            TestVectors.TableRows(name: table.name, columns: table.columns, rows: table.rows.reversed())
        }
        #expect(try SpecDigest.digest(tables: joinedOrder) != v.digestHex)
    }

    @Test("the state vector's digest is SHA-256 of the §9 stream of its rows, in §9 order, with the schema's columns")
    func stateVector() throws {
        let v = try loadVectors().state
        #expect(v.tables == StateVectorScenario.tables)
        #expect(v.conflicts == StateVectorScenario.conflicts)
        #expect(v.digestHex == (try SpecDigest.digest(tables: v.tables)))
        for table in v.tables {
            let spec = try #require(Schema.table(named: table.name))
            #expect(table.columns == spec.columns, "\(table.name): the replica's columns are §9's")
            #expect(!table.rows.isEmpty, "\(table.name): the state covers every table")
            let keys = try Self.keys(table)
            for (a, b) in zip(keys, keys.dropFirst()) {
                #expect(SpecDigest.precedes(a, b, keyColumns: spec.key.count), "\(table.name): \(a) before \(b)")
            }
        }
        let cells = v.tables.flatMap { $0.rows.flatMap { $0 } }
        #expect(cells.contains("N") && cells.contains("F:-0.0") && cells.contains("I:0"), "nulls, a −0.0 and a zero-sum pledge")
        // −0.0 is written as +0.0: the stream with +0.0 in its place is the same one.
        let positiveZero = v.tables.map { table in
            TestVectors.TableRows(name: table.name, columns: table.columns,
                                  rows: table.rows.map { $0.map { $0 == "F:-0.0" ? "F:0.0" : $0 } })
        }
        #expect(try SpecDigest.digest(tables: positiveZero) == v.digestHex)
    }
}
