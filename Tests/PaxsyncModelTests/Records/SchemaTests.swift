import PaxsyncModel
import Testing

/// The table and field specs are what generic code (local writes, CSV import,
/// the replica's statements) reads; these checks keep them coherent, so adding
/// a table is a change to `Schema` alone.
@Suite("Schema specs")
struct SchemaTests {
    @Test("every table names distinct columns and a distinct record noun")
    func distinctNames() {
        for table in Schema.tables {
            #expect(Set(table.columns).count == table.columns.count, "\(table.name)")
        }
        #expect(Set(Schema.tables.map(\.name)).count == Schema.tables.count)
        #expect(Set(Schema.tables.map(\.noun)).count == Schema.tables.count)
    }

    @Test("every reference names a key column of an existing table, of the same type", arguments: Schema.tables.map(\.name))
    func referencesResolve(name: String) throws {
        let table = try #require(Schema.table(named: name))
        let references = table.key.compactMap { column in column.references.map { (column.name, column.type, $0) } }
            + table.fields.compactMap { field in field.references.map { (field.name, field.type, $0) } }
        for (column, type, reference) in references {
            let target = try #require(Schema.table(named: reference.table), "\(name).\(column)")
            let key = try #require(target.key.first { $0.name == reference.column }, "\(name).\(column) → \(reference.table).\(reference.column)")
            #expect("\(type)" == "\(key.type)", "\(name).\(column)")
        }
    }

    @Test("references to facilities: a stock's refuses the facility's deletion, a shipment's two do not")
    func facilityReferrers() {
        let referrers = Schema.referrers(to: "facilities").map { "\($0.table.name).\($0.column) \($0.reference.onDelete)" }
        #expect(referrers == ["stocks.facility_id refuse", "shipments.from_facility allow", "shipments.to_facility allow"])
        #expect(Schema.referrers(to: "shipments").isEmpty)
        #expect(Schema.referrers(to: "reserve_pledges").isEmpty)
    }

    @Test("defaults are valid values of their fields; a shipment's status defaults to planned")
    func defaults() throws {
        for table in Schema.tables {
            for field in table.fields {
                guard let value = field.defaultValue else { continue }
                try field.type.validate(value, field: "\(table.name).\(field.name)")
            }
        }
        let withDefaults = Schema.tables.flatMap { t in t.fields.filter { $0.defaultValue != nil }.map { "\(t.name).\($0.name)" } }
        #expect(withDefaults == ["shipments.status"])
        #expect(Schema.shipments.field("status")?.defaultValue == .text(ShipmentStatus.planned.rawValue))
    }

    @Test("a field that may not be earlier than another names a timestamp field of its own table")
    func ordering() throws {
        var pairs: [String] = []
        for table in Schema.tables {
            for field in table.fields {
                guard let earlier = field.notBefore else { continue }
                let other = try #require(table.field(earlier), "\(table.name).\(field.name)")
                #expect("\(field.type)" == "timestamp" && "\(other.type)" == "timestamp")
                pairs.append("\(table.name).\(earlier) ≤ \(field.name)")
            }
        }
        #expect(pairs == ["shipments.departed_at ≤ arrived_at"])
    }

    @Test("a counter table's fields are all counters; other tables have none")
    func counters() {
        for table in Schema.tables {
            let counters = table.fields.filter { $0.rule == .counter }
            #expect(counters.isEmpty || counters.count == table.fields.count, "\(table.name) mixes counters and other fields")
            #expect(counters.allSatisfy { if case .counter = $0.type { true } else { false } })
        }
        #expect(Schema.tables.filter(\.isCounter).map(\.name) == ["reserve_pledges"])
        let share = Schema.reservePledges.field("share_kg")
        #expect(share?.noun == "share" && share?.unit == "kg")
    }

    @Test("the owner is an id's namespace, or the member a key column names", arguments: [
        ("facilities", ["AU-MTWELD"], "AU", nil),
        ("stocks", ["JP-KOBE", "Li", "oxide"], "JP", nil),
        ("shipments", ["KR-SHP-1"], "KR", nil),
        ("reserve_pledges", ["POOL-2027", "Li", "SG"], "SG", "member"),
    ] as [(String, [String], String, String?)])
    func ownership(name: String, parts: [String], owner: String, ownerKeyColumn: String?) throws {
        let table = try #require(Schema.table(named: name))
        #expect(table.owner(ofKeyParts: parts) == owner)
        #expect(table.ownerKeyColumn == ownerKeyColumn)
        if let ownerKeyColumn {
            let column = try #require(table.key.first { $0.name == ownerKeyColumn })
            #expect("\(column.type)" == "member")
            #expect(table.derivedColumn == nil, "an owner named in the key needs no derived column")
        }
    }
}

@Suite("Record keys: the apply path's split")
struct KeySplitTests {
    @Test("splitKey gives the parts parseKey checked, for every table, empty parts included")
    func splitMatchesParse() throws {
        let keys: [(TableSpec, String)] = [
            (Schema.facilities, "AU-MTWELD"), (Schema.stocks, "AU-MTWELD/Li/ore"), (Schema.shipments, "JP-SHP-0001"),
            (Schema.reservePledges, "RES-2026/Nd/KR"),
        ]
        for (table, key) in keys {
            let parsed = try table.parseKey(key)
            #expect(table.splitKey(key) == parsed, "\(table.name) \(key)")
            #expect(table.makeKey(table.splitKey(key)) == key)
        }
        #expect(Schema.stocks.splitKey("AU-X//ore") == ["AU-X", "", "ore"])
        #expect(Schema.stocks.splitKey("é/ü/") == ["é", "ü", ""])
    }
}
