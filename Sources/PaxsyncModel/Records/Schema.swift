/// The value type of a field, with the checks a value must pass.
public enum FieldType: Sendable {
    /// Free text of 1 to `maxLength` characters, no control characters.
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
    public let summary: String

    public init(_ name: String, _ type: FieldType, nullable: Bool = false, immutable: Bool = false,
                importerMayWrite: Bool = false, rule: FieldRule = .lastWriterWins, _ summary: String) {
        self.name = name
        self.type = type
        self.nullable = nullable
        self.immutable = immutable
        self.importerMayWrite = importerMayWrite
        self.rule = rule
        self.summary = summary
    }
}

/// One part of a record key.
public struct KeyColumn: Sendable {
    public let name: String
    public let type: FieldType
}

/// A shared-record table: its key, its derived columns and its fields.
public struct TableSpec: Sendable {
    public enum Kind: Sendable { case facilities, stocks, shipments, reservePledges }

    public let name: String
    public let kind: Kind
    public let key: [KeyColumn]
    /// A column computed from the key: `owner` of a facility, `exporter` of a shipment.
    public let derivedColumn: String?
    public let fields: [FieldSpec]
    public let summary: String

    public func field(_ name: String) -> FieldSpec? { fields.first { $0.name == name } }

    /// All replica columns in order: key columns, derived column, fields.
    public var columns: [String] { key.map(\.name) + (derivedColumn.map { [$0] } ?? []) + fields.map(\.name) }

    public var isCounter: Bool { kind == .reservePledges }
}

/// The shared-record schema. `version` goes into every change set.
public enum Schema {
    public static let version: UInt32 = 1

    public static let facilities = TableSpec(
        name: "facilities", kind: .facilities,
        key: [KeyColumn(name: "id", type: .facilityID)],
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
        name: "stocks", kind: .stocks,
        key: [KeyColumn(name: "facility_id", type: .facilityID), KeyColumn(name: "mineral", type: .mineral),
              KeyColumn(name: "form", type: .code(CodeLists.forms))],
        derivedColumn: nil,
        fields: [
            FieldSpec("quantity_kg", .integer(0...Int64.max), "Quantity held, kilograms."),
            FieldSpec("grade_pct", .real(0...100), nullable: true, "Grade in percent, if known."),
            FieldSpec("as_of", .date, "Date the quantity was measured."),
        ],
        summary: "Mineral stock at a facility, per mineral and form. Written by the facility's owner."
    )

    public static let shipments = TableSpec(
        name: "shipments", kind: .shipments,
        key: [KeyColumn(name: "id", type: .facilityID)],
        derivedColumn: "exporter",
        fields: [
            FieldSpec("mineral", .mineral, "Mineral code."),
            FieldSpec("form", .code(CodeLists.forms), "Physical form."),
            FieldSpec("quantity_kg", .integer(1...Int64.max), "Quantity shipped, kilograms."),
            FieldSpec("from_facility", .facilityID, "The exporter's facility the goods leave from."),
            FieldSpec("to_facility", .facilityID, "The importer's facility the goods go to."),
            FieldSpec("importer", .member, immutable: true, "Importing member."),
            FieldSpec("carrier", .text(maxLength: 200), nullable: true, "Carrier or vessel."),
            FieldSpec("departed_at", .timestamp, nullable: true, "Departure time, UTC."),
            FieldSpec("eta", .timestamp, nullable: true, importerMayWrite: true, "Estimated arrival, UTC."),
            FieldSpec("arrived_at", .timestamp, nullable: true, importerMayWrite: true, "Arrival time, UTC."),
            FieldSpec("status", .code(CodeLists.shipmentStatuses), importerMayWrite: true, rule: .shipmentStatus,
                      "planned, loading, in_transit, arrived, received (forward only), or cancelled."),
        ],
        summary: "Shipments between members. The id is namespaced by the exporter (AU-SHP-0001 is exported by AU)."
    )

    public static let reservePledges = TableSpec(
        name: "reserve_pledges", kind: .reservePledges,
        key: [KeyColumn(name: "reserve_id", type: .recordID), KeyColumn(name: "mineral", type: .mineral),
              KeyColumn(name: "member", type: .member)],
        derivedColumn: nil,
        fields: [FieldSpec("share_kg", .counter, rule: .counter, "The member's pledged share, kilograms; changed by deltas.")],
        summary: "Each member's pledged share of a pooled reserve of one mineral. The view pooled_reserves sums them."
    )

    /// Every table, in canonical (digest) order.
    public static let tables: [TableSpec] = [facilities, stocks, shipments, reservePledges]

    public static func table(named name: String) -> TableSpec? { tables.first { $0.name == name } }
}
