import ArgumentParser
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a CSV file into a table: all rows or none.",
        discussion: """
            The first row names the columns (see `paxsync export --table NAME` for the
            layout). Every row must be a record this node owns; existing records are
            updated, new ones created. Rows are checked before anything is written, and
            errors name the line and column. Written as signed change sets of
            --batch rows, all in one transaction.

            Example:
              paxsync import --table stocks stocks.csv
            """)
    @OptionGroup var node: NodeOptions
    @Option(help: "facilities, stocks, shipments or reserve_pledges.") var table: TableSpec
    @Argument(help: ArgumentHelp("CSV file with a header row.", valueName: "FILE.csv")) var file: String
    @Option(help: "Rows per signed change set.") var batch = 1000
    @Flag(help: "No progress output.") var quiet = false
    @OptionGroup var json: JSONFlag

    func run() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
        let source = (file as NSString).lastPathComponent
        let replica = try node.directory().openReplica(writable: true)
        let started = Date()
        // Twice through the file, one row at a time: first every row is checked
        // (nothing is written if one is wrong), then the rows are written.
        let checking = Progress("checking \(source)", unit: "rows", enabled: !quiet)
        var checked = 0
        let rows = try CSVImport.read(try CSV.Reader(file: file, source: source), table: table, nodeID: replica.nodeID) { _ in
            checked += 1
            if checked % 10_000 == 0 { checking.update(checked, nil) }
        }
        checking.finish()
        let progress = Progress("importing \(table.name)", unit: "rows", enabled: !quiet)
        // The second pass checks each row again: the file may have changed in between.
        let result = try node.withLocalWrites { replica in
            let reader = try CSV.Reader(file: file, source: source)
            let plan = try CSVImport.Plan(table: table, header: try reader.next(), source: source, nodeID: replica.nodeID)
            return try replica.commitStream(batchSize: batch, note: "import \(table.name) from \(source)",
                                            next: { try reader.next().map(plan.intent) }) { progress.update($0, rows) }
        }
        progress.finish()
        let entries = result.entries
        if !entries.isEmpty { node.wakeDaemon() }
        let seconds = Date().timeIntervalSince(started)
        if json.enabled {
            Output.json(ImportSummary(table: table.name, rows: result.intents, changed: result.changes, entries: entries.map(\.description),
                                      seconds: seconds))
        } else {
            let range = entries.isEmpty ? "no entries (nothing changed)"
                : entries.count == 1 ? "entry \(entries[0])" : "entries \(entries.first!)…\(entries.last!)"
            print("Imported \(result.intents) rows into \(table.name): \(result.changes) changed, \(range), in \(String(format: "%.2f", seconds)) s")
        }
    }

    struct ImportSummary: Codable {
        let table: String
        let rows: Int
        let changed: Int
        let entries: [String]
        let seconds: Double
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a table as CSV (header row, rows in key order).",
        discussion: "Example:\n  paxsync export --table facilities --out facilities.csv")
    @OptionGroup var node: NodeOptions
    @Option(help: "facilities, stocks, shipments or reserve_pledges.") var table: TableSpec
    @Option(help: ArgumentHelp("Output file (default: standard output).", valueName: "FILE")) var out: String?

    func run() throws {
        let replica = try node.replica()
        if let out {
            guard FileManager.default.createFile(atPath: out, contents: nil), let handle = FileHandle(forWritingAtPath: out) else {
                throw PaxsyncError(.storage, "cannot create the file", subject: out)
            }
            defer { try? handle.close() }
            try CSVImport.export(table: table, replica: replica, to: handle)
        } else {
            try CSVImport.export(table: table, replica: replica, to: .standardOutput)
        }
    }
}

struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Run a read-only SQL query on the replica.",
        discussion: """
            Tables: facilities, stocks, shipments, reserve_pledges, and the view
            pooled_reserves. Statements that write are refused.

            At most --max-rows rows are printed (the output says when more were
            left), and a query still running after --timeout seconds is stopped.

            Examples:
              paxsync query "SELECT mineral, SUM(quantity_kg) FROM stocks GROUP BY mineral"
              paxsync query --max-rows 1000000 --timeout 300 --json "SELECT * FROM stocks" > stocks.json
            """)
    @OptionGroup var node: NodeOptions
    @Argument(help: "One SQL statement.") var sql: String
    @Option(help: "Print at most this many rows.") var maxRows = 10_000
    @Option(help: "Stop the query after this many seconds.") var timeout: Double = 30
    @OptionGroup var json: JSONFlag

    func validate() throws {
        if maxRows < 1 { throw ValidationError("--max-rows must be at least 1") }
        if !(timeout > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    func run() throws {
        let (columns, rows, truncated) = try node.replica().query(sql, limit: maxRows, timeoutSeconds: timeout)
        if truncated {
            FileHandle.standardError.write(Data("paxsync query: showing the first \(maxRows) rows; more were left (raise --max-rows)\n".utf8))
        }
        if json.enabled {
            let objects = rows.map { row in Dictionary(uniqueKeysWithValues: zip(columns, row)) }
            Output.json(objects)
        } else {
            Output.table(columns, rows.map { $0.map { $0.isNull ? "NULL" : $0.description } })
            print("(\(rows.count) row\(rows.count == 1 ? "" : "s"))")
        }
    }
}

struct CodesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codes", abstract: "List the code lists fields are checked against.",
        discussion: "Example:\n  paxsync codes minerals")
    enum List: String, ExpressibleByArgument, CaseIterable { case minerals, forms, kinds, statuses, countries, tables }
    @Argument(help: "minerals, forms, kinds, statuses, countries or tables.") var list: List = .minerals
    @OptionGroup var json: JSONFlag

    func run() throws {
        let rows: [[String]]
        switch list {
        case .minerals: rows = CodeLists.minerals.map { [$0.code, $0.name] }
        case .forms: rows = CodeLists.forms.map { [$0, ""] }
        case .kinds: rows = CodeLists.facilityKinds.map { [$0, ""] }
        case .statuses: rows = CodeLists.shipmentStatuses.map { [$0, ""] }
        case .countries: rows = CodeLists.countries.sorted().map { [$0, ""] }
        case .tables: rows = Schema.tables.map { [$0.name, $0.columns.joined(separator: ", ")] }
        }
        if json.enabled { Output.json(rows.map { ["code": $0[0], "name": $0[1]] }) } else { Output.table(["code", "description"], rows) }
    }
}
