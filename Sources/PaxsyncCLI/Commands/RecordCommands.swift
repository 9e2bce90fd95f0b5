import ArgumentParser
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

/// Commits intents on the node and reports the entry written.
func commitAndReport(_ node: NodeOptions, _ json: JSONFlag, _ intents: [WriteIntent], note: String) throws {
    guard let entry = try node.withLocalWrites({ try $0.commit(intents, note: note) }) else {
        if json.enabled { Output.json(["entry": nil as String?]) } else { print("Nothing changed.") }
        return
    }
    node.wakeDaemon()
    if json.enabled {
        Output.json(["entry": entry.id.description, "hash": entry.hash.hex, "changes": String(entry.changeSet.changes.count)])
    } else {
        let records = entry.changeSet.changes.map { "\($0.op.rawValue) \($0.recordName)" }.joined(separator: ", ")
        print("Committed \(entry.id): \(records)")
    }
}

/// Collects typed option values into field values, parsing each by its field type.
func values(_ table: TableSpec, _ pairs: [(String, String?)]) -> [String: FieldValue] {
    var out: [String: FieldValue] = [:]
    for (name, text) in pairs {
        guard let text, let field = table.field(name) else { continue }
        out[name] = text.isEmpty && field.nullable ? .null : field.type.parse(text)
    }
    return out
}

struct FacilityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "facility", abstract: "Create, update or delete this node's facilities.",
        subcommands: [Create.self, Update.self, Delete.self])

    struct Fields: ParsableArguments {
        @Option(help: "Display name.") var name: String?
        @Option(help: "mine, refinery, processing_plant, stockpile, port or manufacturing.") var kind: String?
        @Option(help: "ISO 3166-1 alpha-2 country of the site.") var country: String?
        @Option(name: .customLong("lat"), parsing: .unconditional, help: "Latitude, degrees north (negative for south).") var latitude: String?
        @Option(name: .customLong("lon"), parsing: .unconditional, help: "Longitude, degrees east (negative for west).") var longitude: String?
        var pairs: [(String, String?)] {
            [("name", name), ("kind", kind), ("country", country), ("latitude", latitude), ("longitude", longitude)]
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a facility; its id starts with this node's member id.",
            discussion: "Example:\n  paxsync facility create --id AU-MTWELD --name \"Mount Weld\" --kind mine --country AU --lat -28.86 --lon 122.55")
        @OptionGroup var node: NodeOptions
        @Option(help: "Facility id, namespaced by owner: AU-MTWELD.") var id: String
        @OptionGroup var fields: Fields
        @OptionGroup var json: JSONFlag
        func run() throws {
            try commitAndReport(node, json, [WriteIntent(table: Schema.facilities, keyParts: [id], kind: .create,
                                                         values: values(Schema.facilities, fields.pairs))], note: "facility create")
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change some fields of a facility.",
            discussion: "Example:\n  paxsync facility update --id AU-MTWELD --name \"Mt Weld CLD\"")
        @OptionGroup var node: NodeOptions
        @Option(help: "Facility id.") var id: String
        @OptionGroup var fields: Fields
        @OptionGroup var json: JSONFlag
        func run() throws {
            try commitAndReport(node, json, [WriteIntent(table: Schema.facilities, keyParts: [id], kind: .update,
                                                         values: values(Schema.facilities, fields.pairs))], note: "facility update")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a facility (after its stocks).",
            discussion: "Example:\n  paxsync facility delete --id AU-MTWELD")
        @OptionGroup var node: NodeOptions
        @Option(help: "Facility id.") var id: String
        @OptionGroup var json: JSONFlag
        func run() throws {
            try commitAndReport(node, json, [WriteIntent(table: Schema.facilities, keyParts: [id], kind: .delete)], note: "facility delete")
        }
    }
}

struct StockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stock", abstract: "Set or delete stock levels at this node's facilities.",
        subcommands: [Set.self, Delete.self])

    struct Key: ParsableArguments {
        @Option(help: "Facility id.") var facility: String
        @Option(help: "Mineral code (see `paxsync codes minerals`).") var mineral: String
        @Option(help: "ore, concentrate, oxide, metal, alloy or magnet.") var form: String
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or update a stock level.",
            discussion: "Example:\n  paxsync stock set --facility AU-MTWELD --mineral Nd --form oxide --quantity-kg 120000 --grade-pct 99.5 --as-of 2026-11-29")
        @OptionGroup var node: NodeOptions
        @OptionGroup var key: Key
        @Option(name: .customLong("quantity-kg"), help: "Quantity, kilograms (integer ≥ 0).") var quantity: String?
        @Option(name: .customLong("grade-pct"), help: "Grade in percent, 0–100 (empty to clear).") var grade: String?
        @Option(name: .customLong("as-of"), help: "Measurement date YYYY-MM-DD.") var asOf: String?
        @OptionGroup var json: JSONFlag
        func run() throws {
            let v = values(Schema.stocks, [("quantity_kg", quantity), ("grade_pct", grade), ("as_of", asOf)])
            try commitAndReport(node, json, [WriteIntent(table: Schema.stocks, keyParts: [key.facility, key.mineral, key.form],
                                                         kind: .upsert, values: v)], note: "stock set")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a stock record.",
            discussion: "Example:\n  paxsync stock delete --facility AU-MTWELD --mineral Nd --form oxide")
        @OptionGroup var node: NodeOptions
        @OptionGroup var key: Key
        @OptionGroup var json: JSONFlag
        func run() throws {
            try commitAndReport(node, json, [WriteIntent(table: Schema.stocks, keyParts: [key.facility, key.mineral, key.form],
                                                         kind: .delete)], note: "stock delete")
        }
    }
}

struct ShipmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shipment", abstract: "Create, update, advance or cancel shipments.",
        discussion: "The exporter creates and cancels; exporter and importer both update the ETA and advance the status.",
        subcommands: [Create.self, Update.self, Advance.self, Cancel.self, Delete.self])

    struct Fields: ParsableArguments {
        @Option(help: "Carrier or vessel (empty to clear).") var carrier: String?
        @Option(name: .customLong("departed-at"), help: "Departure, YYYY-MM-DDTHH:MM:SSZ.") var departedAt: String?
        @Option(help: "Estimated arrival, YYYY-MM-DDTHH:MM:SSZ.") var eta: String?
        @Option(name: .customLong("arrived-at"), help: "Arrival, YYYY-MM-DDTHH:MM:SSZ.") var arrivedAt: String?
        var pairs: [(String, String?)] { [("carrier", carrier), ("departed_at", departedAt), ("eta", eta), ("arrived_at", arrivedAt)] }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a shipment exported by this node (status planned).",
            discussion: """
                Example:
                  paxsync shipment create --id AU-SHP-0001 --mineral Nd --form oxide --quantity-kg 20000 \\
                    --from AU-MTWELD --to JP-KOBE --importer JP --eta 2026-12-20T00:00:00Z
                """)
        @OptionGroup var node: NodeOptions
        @Option(help: "Shipment id, namespaced by the exporter: AU-SHP-0001.") var id: String
        @Option var mineral: String
        @Option var form: String
        @Option(name: .customLong("quantity-kg")) var quantity: String
        @Option(help: "The exporter's facility.") var from: String
        @Option(help: "The importer's facility.") var to: String
        @Option(help: "Importing member id.") var importer: String
        @OptionGroup var fields: Fields
        @OptionGroup var json: JSONFlag
        func run() throws {
            let v = values(Schema.shipments, [("mineral", mineral), ("form", form), ("quantity_kg", quantity), ("from_facility", from),
                                              ("to_facility", to), ("importer", importer), ("status", "planned")] + fields.pairs)
            try commitAndReport(node, json, [WriteIntent(table: Schema.shipments, keyParts: [id], kind: .create, values: v)],
                                note: "shipment create")
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a shipment's carrier or times.",
            discussion: "Example:\n  paxsync shipment update --id AU-SHP-0001 --eta 2026-12-22T06:00:00Z")
        @OptionGroup var node: NodeOptions
        @Option var id: String
        @OptionGroup var fields: Fields
        @OptionGroup var json: JSONFlag
        func run() throws {
            try commitAndReport(node, json, [WriteIntent(table: Schema.shipments, keyParts: [id], kind: .update,
                                                         values: values(Schema.shipments, fields.pairs))], note: "shipment update")
        }
    }

    struct Advance: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a shipment's status forward: planned → loading → in_transit → arrived → received.",
            discussion: "Example:\n  paxsync shipment advance --id AU-SHP-0001 --status in_transit --departed-at 2026-12-01T08:00:00Z")
        @OptionGroup var node: NodeOptions
        @Option var id: String
        @Option(help: "loading, in_transit, arrived or received.") var status: String
        @OptionGroup var fields: Fields
        @OptionGroup var json: JSONFlag
        func run() throws {
            guard let s = ShipmentStatus(rawValue: status), s != .cancelled else {
                throw PaxsyncError(.usage, "--status must be loading, in_transit, arrived or received (use `shipment cancel` to cancel)", subject: status)
            }
            try commitAndReport(node, json, [WriteIntent(table: Schema.shipments, keyParts: [id], kind: .update,
                                                         values: values(Schema.shipments, [("status", status)] + fields.pairs))],
                                note: "shipment advance")
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a shipment that has not departed (exporter only).",
            discussion: "Example:\n  paxsync shipment cancel --id AU-SHP-0001")
        @OptionGroup var node: NodeOptions
        @Option var id: String
        @OptionGroup var json: JSONFlag
        func run() throws {
            try commitAndReport(node, json, [WriteIntent(table: Schema.shipments, keyParts: [id], kind: .update,
                                                         values: ["status": .text("cancelled")])], note: "shipment cancel")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a shipment record (exporter only).",
            discussion: "Example:\n  paxsync shipment delete --id AU-SHP-0001")
        @OptionGroup var node: NodeOptions
        @Option var id: String
        @OptionGroup var json: JSONFlag
        func run() throws {
            try commitAndReport(node, json, [WriteIntent(table: Schema.shipments, keyParts: [id], kind: .delete)], note: "shipment delete")
        }
    }
}

struct ReserveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reserve", abstract: "Adjust this member's pledge to a pooled reserve.",
        subcommands: [Pledge.self])

    struct Pledge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add to, take from, or set this member's pledged share.",
            discussion: """
                Adjustments are counters: every member's concurrent adjustments all count.
                Examples:
                  paxsync reserve pledge --reserve POOL-2027 --mineral Li --adjust 5000
                  paxsync reserve pledge --reserve POOL-2027 --mineral Li --adjust -1000
                  paxsync reserve pledge --reserve POOL-2027 --mineral Li --set 12000
                """)
        @OptionGroup var node: NodeOptions
        @Option(help: "Reserve id.") var reserve: String
        @Option var mineral: String
        @Option(parsing: .unconditional, help: "Kilograms to add (negative to withdraw).") var adjust: Int64?
        @Option(help: "Set the share to this many kilograms.") var set: Int64?
        @OptionGroup var json: JSONFlag

        func validate() throws {
            guard (adjust == nil) != (set == nil) else { throw ValidationError("give exactly one of --adjust or --set") }
        }

        func run() throws {
            let dir = try node.directory()
            let intent = WriteIntent(table: Schema.reservePledges, keyParts: [reserve, mineral, dir.configuration.nodeID],
                                     kind: adjust != nil ? .adjust : .setCounter,
                                     values: ["share_kg": .integer(adjust ?? set ?? 0)])
            try commitAndReport(node, json, [intent], note: "reserve pledge")
        }
    }
}
