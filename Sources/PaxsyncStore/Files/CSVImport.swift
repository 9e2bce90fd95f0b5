import Foundation
import PaxsyncModel

/// Turns a CSV file into write intents for one table, checking every cell
/// before anything is written. Errors name `file:line` and the column.
///
/// A file is read as a stream of rows (`CSV.Reader`): checking it holds one
/// row and the keys seen so far (to refuse a key given twice), never the
/// whole file, and a node imports it by reading it twice, once to check every
/// row and once to write them (`Replica.commitStream`).
public enum CSVImport {
    /// How the rows of one file map onto a table, from its header row.
    public struct Plan: Sendable {
        public let table: TableSpec
        public let source: String
        public let nodeID: String
        let columns: [String]
        let index: [String: Int]

        /// Checks the header: every column known, none twice, none required missing.
        /// - Parameter nodeID: The importing node: every row must be a record it owns.
        public init(table: TableSpec, header: CSV.Row?, source: String, nodeID: String) throws {
            guard let header else { throw PaxsyncError(.badInput, "the file is empty; expected a header row", subject: source) }
            let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
            var index: [String: Int] = [:]
            let known = table.columns
            for (i, name) in columns.enumerated() {
                guard known.contains(name) else {
                    throw PaxsyncError(.badInput, "unknown column \"\(name)\"; \(table.name) has \(known.joined(separator: ", "))",
                                       subject: "\(source):\(header.line)")
                }
                guard index.updateValue(i, forKey: name) == nil else {
                    throw PaxsyncError(.badInput, "column \"\(name)\" appears twice", subject: "\(source):\(header.line)")
                }
            }
            // The owner's key column (a pledge's member) may be left out: it is this node.
            // Fields with a default may be left out: an existing record keeps its value.
            let required = table.key.map(\.name).filter { $0 != table.ownerKeyColumn }
                + table.fields.filter { !$0.nullable && $0.defaultValue == nil }.map(\.name)
            let missing = required.filter { index[$0] == nil }
            guard missing.isEmpty else {
                throw PaxsyncError(.badInput, "missing column(s) \(missing.joined(separator: ", "))", subject: "\(source):\(header.line)")
            }
            (self.table, self.source, self.nodeID, self.columns, self.index) = (table, source, nodeID, columns, index)
        }

        /// The write intent of one data row, every cell checked.
        public func intent(_ row: CSV.Row) throws -> WriteIntent {
            let at = "\(source):\(row.line)"
            guard row.fields.count == columns.count else {
                throw PaxsyncError(.badInput, "has \(row.fields.count) fields; the header has \(columns.count)", subject: at)
            }
            func cell(_ name: String) -> String? { index[name].map { CSVImport.trimmed(row.fields[$0]) } }

            var parts: [String] = []
            for column in table.key {
                var value = cell(column.name) ?? ""
                if column.name == table.ownerKeyColumn, value.isEmpty { value = nodeID }
                do { try column.type.validate(.text(value), field: column.name) } catch {
                    throw PaxsyncError(.invalidField, error.message, subject: "\(at): column \(column.name)")
                }
                parts.append(value)
            }
            let owner = table.owner(ofKeyParts: parts)
            guard owner == nodeID else {
                throw PaxsyncError(.unauthorized, "\(table.name) \(table.makeKey(parts)) belongs to \(owner); this node is \(nodeID) and writes only its own records",
                                   subject: at)
            }
            if let derived = table.derivedColumn, let given = cell(derived), !given.isEmpty, given != owner {
                throw PaxsyncError(.invalidField, "\(derived) is \(given) but the id is namespaced by \(owner)", subject: "\(at): column \(derived)")
            }
            var values: [String: FieldValue] = [:]
            for field in table.fields {
                guard let text = cell(field.name) else { continue }
                if text.isEmpty {
                    guard field.nullable else {
                        if field.defaultValue != nil { continue }
                        throw PaxsyncError(.invalidField, "is empty; \(field.summary)", subject: "\(at): column \(field.name)")
                    }
                    values[field.name] = .null
                    continue
                }
                let value = field.type.parse(text)
                do { try field.type.validate(value, field: field.name) } catch {
                    throw PaxsyncError(.invalidField, error.message, subject: "\(at): column \(field.name)")
                }
                values[field.name] = value
            }
            // A counter is set to a total here, and a total is never below zero.
            for field in table.fields where field.rule == .counter {
                if let total = values[field.name]?.integer, total < 0 {
                    throw PaxsyncError(.invalidField, "a \(field.noun) may not be negative", subject: "\(at): column \(field.name)")
                }
            }
            return WriteIntent(table: table, keyParts: parts, kind: table.isCounter ? .setCounter : .upsert, values: values, source: at)
        }
    }

    /// `text` without leading and trailing whitespace (`CharacterSet.whitespaces`).
    /// Most cells have none, which is seen from their first and last scalars
    /// without Foundation's trimming (about a seventh of an import's time when it ran on every cell).
    static func trimmed(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last,
              CharacterSet.whitespaces.contains(first) || CharacterSet.whitespaces.contains(last) else { return text }
        return text.trimmingCharacters(in: .whitespaces)
    }

    /// Reads every row of `reader` as intents of `table`, checking each; a key
    /// given twice is refused naming both lines. `each` gets every intent in
    /// file order.
    /// - Returns: How many data rows the file has.
    @discardableResult
    public static func read(_ reader: CSV.Reader, table: TableSpec, nodeID: String,
                            each: (WriteIntent) throws -> Void = { _ in }) throws -> Int {
        let plan = try Plan(table: table, header: try reader.next(), source: reader.source, nodeID: nodeID)
        var seen: [String: Int] = [:]
        var count = 0
        while let row = try reader.next() {
            let intent = try plan.intent(row)
            let key = table.makeKey(intent.keyParts)
            if let first = seen.updateValue(row.line, forKey: key) {
                throw PaxsyncError(.badInput, "\(table.name) \(key) appears again (first on line \(first))", subject: "\(reader.source):\(row.line)")
            }
            count += 1
            try each(intent)
        }
        return count
    }

    /// Every intent of a whole file in memory (small files and tests).
    public static func intents(table: TableSpec, data: Data, source: String, nodeID: String) throws -> [WriteIntent] {
        var intents: [WriteIntent] = []
        try read(CSV.Reader(data: data, source: source), table: table, nodeID: nodeID) { intents.append($0) }
        return intents
    }

    public static func export(table: TableSpec, replica: Replica, to handle: FileHandle) throws {
        var buffer = CSV.line(table.columns)
        try replica.read { db in
            let order = table.key.map(\.name).joined(separator: ", ")
            let rows = try GRDBRows.cursor(db, sql: "SELECT \(table.columns.joined(separator: ", ")) FROM \(table.name) ORDER BY \(order)")
            while let values = try rows.next() {
                buffer += CSV.line(values.map(\.description))
                if buffer.utf8.count > 1 << 16 {
                    handle.write(Data(buffer.utf8))
                    buffer = ""
                }
            }
        }
        handle.write(Data(buffer.utf8))
    }
}
