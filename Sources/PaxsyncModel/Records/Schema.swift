/// The value type of a field, with the checks a value must pass.
public enum FieldType: Sendable {
    /// Free text of 1 to `maxLength` Unicode scalar values, none of them a
    /// control character (general category Cc: U+0000–U+001F, U+007F–U+009F).
    case text(maxLength: Int)
    /// An integer in a closed range.
    case integer(ClosedRange<Int64>)
    /// A finite real number in a closed range.
    case real(ClosedRange<Double>)
    /// One of a fixed list of codes.
    case code([String])
    /// A mineral code from `CodeLists.minerals`.
    case mineral
    /// An ISO 3166-1 alpha-2 country code.
    case country
    /// A coalition member id.
    case member
    /// A calendar date, `YYYY-MM-DD`.
    case date
    /// A UTC timestamp, `YYYY-MM-DDTHH:MM:SSZ`.
    case timestamp
    /// A namespaced record id (`AU-MTWELD`) of a facility.
    case facilityID
    /// A record id, not namespaced (`R2026-LI`).
    case recordID
    /// A signed integer counter changed only by deltas.
    case counter
}

/// How concurrent writes to a field are resolved (see PROTOCOL.md, "Merge").
public enum FieldRule: String, Sendable {
    case lastWriterWins = "last-writer-wins"
    case shipmentStatus = "shipment-status"
    case counter = "counter"
}

/// A column that names a record of another table, by that table's key column.
///
/// References are checked where a write is made (the writing node must hold
/// the referenced record), not in the apply path: a peer's entry is judged
/// only by what its origin knew, and may name records this node has not seen.
public struct Reference: Sendable, Hashable {
    /// What deleting a referenced record does while records still name it.
    public enum OnDelete: Sendable, Hashable {
        /// The delete goes ahead; the reference keeps naming a record that is gone
        /// (a shipment's facilities are history).
        case allow
        /// The delete is refused until the records naming it are deleted first.
        case refuse
    }

    /// The referenced table.
    public let table: String
    /// The referenced table's key column the value matches.
    public let column: String
    public let onDelete: OnDelete

    public init(_ table: String, _ column: String, onDelete: OnDelete = .allow) {
        self.table = table
        self.column = column
        self.onDelete = onDelete
    }
}

/// One mutable field of a table.
public struct FieldSpec: Sendable {
    public let name: String
    public let type: FieldType
    public let nullable: Bool
    /// Set by the record's creation only; updates may not change it.
    public let immutable: Bool
    /// For shipments: the importer may write this field too.
    public let importerMayWrite: Bool
    public let rule: FieldRule
    /// The field's usual value. A CSV import may leave such a column out, or a
    /// cell empty: an existing record keeps its value. A local creation fills
    /// it in for a field it leaves out only when the field is nullable; a
    /// non-nullable one must still be given (`shipment create` gives `planned`).
    public let defaultValue: FieldValue?
    /// The record of another table this field names.
    public let references: Reference?
    /// Another timestamp field of the same table this one may not be earlier than.
    public let notBefore: String?
    /// How messages name the value (`share`).
    public let noun: String
    /// The unit of a quantity (`kg`), shown after its value in messages.
    public let unit: String?
    public let summary: String

    public init(_ name: String, _ type: FieldType, nullable: Bool = false, immutable: Bool = false,
                importerMayWrite: Bool = false, rule: FieldRule = .lastWriterWins, default defaultValue: FieldValue? = nil,
                references: Reference? = nil, notBefore: String? = nil, noun: String? = nil, unit: String? = nil,
                _ summary: String) {
        self.name = name
        self.type = type
        self.nullable = nullable
        self.immutable = immutable
        self.importerMayWrite = importerMayWrite
        self.rule = rule
        self.defaultValue = defaultValue
        self.references = references
        self.notBefore = notBefore
        self.noun = noun ?? name
        self.unit = unit
        self.summary = summary
    }
}

/// One part of a record key.
public struct KeyColumn: Sendable {
    public let name: String
    public let type: FieldType
    /// The record of another table this key part names (a stock's facility).
    public let references: Reference?

    public init(name: String, type: FieldType, references: Reference? = nil) {
        self.name = name
        self.type = type
        self.references = references
    }
}

/// A shared-record table: its key, its derived columns and its fields.
public struct TableSpec: Sendable {
    public enum Kind: Sendable { case facilities, stocks, shipments, reservePledges }

    /// Which member owns a record, and so alone may create, delete or adjust it.
    public enum Ownership: Sendable, Hashable {
        /// The member whose id prefixes the first key part (`AU-MTWELD` is AU's).
        case namespace
        /// The member named by this key column (a pledge's `member`).
        case keyColumn(String)
    }

    public let name: String
    public let kind: Kind
    /// How messages name one record (`stock`); also the command that writes it (`paxsync stock`).
    public let noun: String
    public let key: [KeyColumn]
    public let ownership: Ownership
    /// A column computed from the key: `owner` of a facility, `exporter` of a shipment.
    public let derivedColumn: String?
    public let fields: [FieldSpec]
    public let summary: String

    public func field(_ name: String) -> FieldSpec? { fields.first { $0.name == name } }

    /// All replica columns in order: key columns, derived column, fields.
    public var columns: [String] { key.map(\.name) + (derivedColumn.map { [$0] } ?? []) + fields.map(\.name) }

    /// Whether every field is a counter: the table is changed only by adjustments.
    public var isCounter: Bool { !fields.isEmpty && fields.allSatisfy { $0.rule == .counter } }

    /// The key column naming the owner, when the owner is named outright
    /// rather than by an id's namespace. A CSV import may leave it empty.
    public var ownerKeyColumn: String? {
        if case .keyColumn(let column) = ownership { column } else { nil }
    }
}

/// The shared-record schema. `version` goes into every change set.
public enum Schema {
    public static let version: UInt32 = 1

    public static let facilities = TableSpec(
        name: "facilities", kind: .facilities, noun: "facility",
        key: [KeyColumn(name: "id", type: .facilityID)],
        ownership: .namespace,
        derivedColumn: "owner",
        fields: [
            FieldSpec("name", .text(maxLength: 200), "Display name."),
            FieldSpec("kind", .code(CodeLists.facilityKinds), "mine, refinery, processing_plant, stockpile, port or manufacturing."),
            FieldSpec("country", .country, "ISO 3166-1 alpha-2 code of the facility's location."),
            FieldSpec("latitude", .real(-90...90), "Degrees north, WGS 84."),
            FieldSpec("longitude", .real(-180...180), "Degrees east, WGS 84."),
        ],
        summary: "Mines, refineries, plants, stockpiles, ports and factories. The id is namespaced by its owner (AU-MTWELD belongs to AU)."
    )

    public static let stocks = TableSpec(
        name: "stocks", kind: .stocks, noun: "stock",
        key: [KeyColumn(name: "facility_id", type: .facilityID, references: Reference("facilities", "id", onDelete: .refuse)),
              KeyColumn(name: "mineral", type: .mineral), KeyColumn(name: "form", type: .code(CodeLists.forms))],
        ownership: .namespace,
        derivedColumn: nil,
        fields: [
            FieldSpec("quantity_kg", .integer(0...Int64.max), "Quantity held, kilograms."),
            FieldSpec("grade_pct", .real(0...100), nullable: true, "Grade in percent, if known."),
            FieldSpec("as_of", .date, "Date the quantity was measured."),
        ],
        summary: "Mineral stock at a facility, per mineral and form. Written by the facility's owner."
    )

    public static let shipments = TableSpec(
        name: "shipments", kind: .shipments, noun: "shipment",
        key: [KeyColumn(name: "id", type: .facilityID)],
        ownership: .namespace,
        derivedColumn: "exporter",
        fields: [
            FieldSpec("mineral", .mineral, "Mineral code."),
            FieldSpec("form", .code(CodeLists.forms), "Physical form."),
            FieldSpec("quantity_kg", .integer(1...Int64.max), "Quantity shipped, kilograms."),
            FieldSpec("from_facility", .facilityID, references: Reference("facilities", "id"),
                      "The exporter's facility the goods leave from."),
            FieldSpec("to_facility", .facilityID, references: Reference("facilities", "id"),
                      "The importer's facility the goods go to."),
            FieldSpec("importer", .member, immutable: true, "Importing member."),
            FieldSpec("carrier", .text(maxLength: 200), nullable: true, "Carrier or vessel."),
            FieldSpec("departed_at", .timestamp, nullable: true, "Departure time, UTC."),
            FieldSpec("eta", .timestamp, nullable: true, importerMayWrite: true, "Estimated arrival, UTC."),
            FieldSpec("arrived_at", .timestamp, nullable: true, importerMayWrite: true, notBefore: "departed_at",
                      "Arrival time, UTC."),
            FieldSpec("status", .code(CodeLists.shipmentStatuses), importerMayWrite: true, rule: .shipmentStatus,
                      default: .text(ShipmentStatus.planned.rawValue),
                      "planned, loading, in_transit, arrived, received (forward only), or cancelled."),
        ],
        summary: "Shipments between members. The id is namespaced by the exporter (AU-SHP-0001 is exported by AU)."
    )

    public static let reservePledges = TableSpec(
        name: "reserve_pledges", kind: .reservePledges, noun: "reserve pledge",
        key: [KeyColumn(name: "reserve_id", type: .recordID), KeyColumn(name: "mineral", type: .mineral),
              KeyColumn(name: "member", type: .member)],
        ownership: .keyColumn("member"),
        derivedColumn: nil,
        fields: [FieldSpec("share_kg", .counter, rule: .counter, noun: "share", unit: "kg",
                           "The member's pledged share, kilograms; changed by deltas.")],
        summary: "Each member's pledged share of a pooled reserve of one mineral. The view pooled_reserves sums them."
    )

    /// Every table, in canonical (digest) order.
    public static let tables: [TableSpec] = [facilities, stocks, shipments, reservePledges]

    public static func table(named name: String) -> TableSpec? { tables.first { $0.name == name } }

    /// A column of some table that references another table.
    public struct Referrer: Sendable {
        /// The referencing table.
        public let table: TableSpec
        /// Its column (a key column or a field) that holds the referenced value.
        public let column: String
        public let reference: Reference
    }

    /// Every column, of every table, that references `table`, in table and column order.
    public static func referrers(to table: String) -> [Referrer] {
        tables.flatMap { spec in
            let keys = spec.key.compactMap { column in column.references.map { (column.name, $0) } }
            let fields = spec.fields.compactMap { field in field.references.map { (field.name, $0) } }
            return (keys + fields).filter { $0.1.table == table }.map { Referrer(table: spec, column: $0.0, reference: $0.1) }
        }
    }
}
