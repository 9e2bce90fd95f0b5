import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel

/// One line of `paxsync log list`.
public struct LogEntrySummary: Codable, Sendable {
    public let position: Int64
    public let entry: String
    public let origin: String
    public let seq: UInt64
    public let hlc: UInt64
    public let time: String
    public let changes: Int
    public let hash: String
    public let note: String
    /// Why the entry does not count in the merge (a governance decision cut or voided it, §3.5); nil when it counts.
    public var cut: String? = nil
}

/// Filters for `paxsync log list`.
public struct LogFilter: Sendable {
    public var origin: String?
    public var since: UInt64?
    public var until: UInt64?
    /// `table` or `table KEY`.
    public var table: String?
    public var key: String?
    public var limit: Int?

    public init(origin: String? = nil, since: UInt64? = nil, until: UInt64? = nil, table: String? = nil, key: String? = nil, limit: Int? = nil) {
        self.origin = origin
        self.since = since
        self.until = until
        self.table = table
        self.key = key
        self.limit = limit
    }
}

/// An origin's chain head and status here.
public struct OriginState: Codable, Sendable {
    public let origin: String
    public let lastSeq: UInt64
    /// Physical time of the newest entry held (its HLC), in milliseconds, and as text.
    public let lastMilliseconds: UInt64?
    public let lastTime: String?
    public let status: OriginStatus
    public let reason: String?
}

/// A quarantined entry.
public struct QuarantineItem: Codable, Sendable {
    public let entry: String?
    public let code: String
    public let reason: String
    public let blocksOrigin: Bool
    public let receivedAt: String
    public let hash: String
}

/// A held entry.
public struct HeldItem: Codable, Sendable {
    public let entry: String
    public let code: HoldReason
    public let reason: String
    public let receivedAt: String
}

/// Evidence of a forked log.
public struct EquivocationItem: Codable, Sendable {
    public let entry: String
    public let hashA: String
    public let hashB: String
    public let detectedAt: String
    /// The decision that resolved it (§3.5) and the hash it keeps, once decided.
    public var resolvedBy: String?
}

extension Replica {
    /// The state digest over the shared records (PROTOCOL.md, "State digest").
    public func digest() throws -> (hex: String, rows: Int) {
        try writer.read { db in try Self.digest(db) }
    }

    static func digest(_ db: Database) throws -> (hex: String, rows: Int) {
        var digest = StateDigest()
        for table in Schema.tables {
            digest.beginTable(table.name)
            let order = table.key.map { "\($0.name) COLLATE BINARY" }.joined(separator: ", ")
            let rows = try Row.fetchCursor(db, sql: "SELECT \(table.columns.joined(separator: ", ")) FROM \(table.name) ORDER BY \(order)")
            while let row = try rows.next() {
                digest.addRow((0..<row.count).map { FieldValue(row[$0] as DatabaseValue) })
            }
        }
        return (digest.finalize(), digest.rows)
    }

    public func logEntries(_ filter: LogFilter) throws -> [LogEntrySummary] {
        try writer.read { db in
            var clauses: [String] = []
            var args: [any DatabaseValueConvertible] = []
            if let origin = filter.origin { clauses.append("l.origin = ?"); args.append(origin) }
            if let since = filter.since { clauses.append("l.hlc >= ?"); args.append(Int64(since << 16)) }
            if let until = filter.until { clauses.append("l.hlc <= ?"); args.append(Int64((until << 16) | 0xFFFF)) }
            if let table = filter.table {
                var sub = "SELECT 1 FROM paxsync_record_changes r WHERE r.origin = l.origin AND r.seq = l.seq AND r.tbl = ?"
                args.append(table)
                if let key = filter.key { sub += " AND r.key = ?"; args.append(key) }
                clauses.append("EXISTS (\(sub))")
            }
            let hasCut = try db.tableExists("paxsync_cuts")
            let cut = try db.tableExists("paxsync_superseded")
                ? ", COALESCE((SELECT 'superseded: ' || reason FROM paxsync_superseded s WHERE s.position = l.position), "
                    + "(SELECT reason FROM paxsync_cuts c WHERE c.origin = l.origin AND c.seq = l.seq)) AS cut"
                : hasCut ? ", (SELECT reason FROM paxsync_cuts c WHERE c.origin = l.origin AND c.seq = l.seq) AS cut" : ""
            var sql = "SELECT position, origin, seq, hlc, change_count, hash, body\(cut) FROM paxsync_log l"
            if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
            sql += " ORDER BY position"
            if let limit = filter.limit { sql += " LIMIT \(limit)" }
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { row in
                let hlc = HLC(rawValue: UInt64(bitPattern: row["hlc"]))
                let note = (try? ChangeSet(body: [UInt8](row["body"] as Data)))?.note ?? ""
                return LogEntrySummary(position: row["position"], entry: "\(row["origin"] as String):\(row["seq"] as Int64)",
                                       origin: row["origin"], seq: UInt64(row["seq"] as Int64), hlc: hlc.rawValue,
                                       time: hlc.iso8601, changes: row["change_count"],
                                       hash: [UInt8](row["hash"] as Data).hex, note: note, cut: hasCut ? row["cut"] : nil)
            }
        }
    }

    /// One logged entry by id, with its log position.
    public func logEntry(_ id: EntryID) throws -> (entry: SignedEntry, position: Int64)? {
        try writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT position, body, signature FROM \(try Self.standingLog(db)) WHERE origin = ? AND seq = ?",
                                             arguments: [id.origin, Int64(id.seq)]) else { return nil }
            return (try SignedEntry(body: [UInt8](row["body"] as Data), signature: [UInt8](row["signature"] as Data)), row["position"])
        }
    }

    /// Whether an entry's signature verifies against the key in effect for it
    /// (the roster's, or a rotation's applied here, §3.4).
    public func signatureIsValid(_ entry: SignedEntry) -> Bool {
        let key = try? writer.read { db in try keyInEffect(db, origin: entry.changeSet.origin, seq: entry.changeSet.seq) }
        return (key ?? nil).map { entry.verify(publicKey: $0) } ?? false
    }

    /// The log without the entries of superseded branches (§3.5): one chain per origin.
    /// A replica opened read-only before its v4 migration has no superseded entries.
    static func standingLog(_ db: Database) throws -> String {
        try db.viewExists("paxsync_standing") ? "paxsync_standing" : "paxsync_log"
    }

    /// Streams every standing logged entry in log order (which respects causality);
    /// with `includingSuperseded`, the entries of superseded branches too, as sessions relay them.
    public func forEachLoggedEntry(includingSuperseded: Bool = false, _ body: (SignedEntry, Int64) throws -> Bool) throws {
        try writer.read { db in
            let table = includingSuperseded ? "paxsync_log" : try Self.standingLog(db)
            let rows = try Row.fetchCursor(db, sql: "SELECT position, body, signature FROM \(table) ORDER BY position")
            while let row = try rows.next() {
                let entry = try SignedEntry(body: [UInt8](row["body"] as Data), signature: [UInt8](row["signature"] as Data))
                if try !body(entry, row["position"]) { break }
            }
        }
    }

    public func logCount() throws -> Int {
        try writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM paxsync_log") ?? 0 }
    }

    /// Each origin's chain head as `paxsync_origins` records it.
    public func recordedHeads() throws -> [String: (seq: UInt64, hash: [UInt8])] {
        try writer.read { db in
            var heads: [String: (seq: UInt64, hash: [UInt8])] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT origin, last_seq, last_hash FROM paxsync_origins WHERE last_seq > 0") {
                heads[row["origin"]] = (UInt64(row["last_seq"] as Int64), [UInt8](row["last_hash"] as Data))
            }
            return heads
        }
    }

    public func conflicts(table: String? = nil) throws -> [Conflict] {
        try writer.read { db in
            var sql = "SELECT * FROM paxsync_conflicts"
            var args: [any DatabaseValueConvertible] = []
            if let table { sql += " WHERE tbl = ?"; args.append(table) }
            sql += " ORDER BY tbl, key, field, loser_hlc, loser_origin"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map { try Self.conflict(from: $0) }
        }
    }

    static func conflict(from row: Row) throws(PaxsyncError) -> Conflict {
        let winnerValue: String? = row["winner_value"]
        let winnerDeleted: Bool = row["winner_deleted"]
        let winnerHLC: Int64 = row["winner_hlc"]
        let loserValue: String? = row["loser_value"]
        let loserHLC: Int64 = row["loser_hlc"]
        let winner = Conflict.Side(value: winnerValue, isNull: winnerValue == nil && !winnerDeleted, deleted: winnerDeleted,
                                   origin: row["winner_origin"], hlc: UInt64(bitPattern: winnerHLC), entry: row["winner_entry"])
        let loser = Conflict.Side(value: loserValue, isNull: loserValue == nil, deleted: false,
                                  origin: row["loser_origin"], hlc: UInt64(bitPattern: loserHLC), entry: row["loser_entry"])
        let record = "\(row["tbl"] as String) \(row["key"] as String)"
        guard let decision = Decision(rawValue: row["decision"]) else {
            throw PaxsyncError(.storage, "a conflict on field \(row["field"] as String) was settled by \"\(row["decision"] as String)\", "
                               + "a rule this version of paxsync does not know", subject: record)
        }
        return Conflict(table: row["tbl"], key: row["key"], field: row["field"], winner: winner, loser: loser, decision: decision)
    }

    public func origins() throws -> [OriginState] { try writer.read(Self.origins) }

    static func origins(_ db: Database) throws -> [OriginState] {
        try Row.fetchAll(db, sql: "SELECT * FROM paxsync_origins ORDER BY origin").map { row in
            let hlc = HLC(rawValue: UInt64(bitPattern: row["last_hlc"]))
            return OriginState(origin: row["origin"], lastSeq: UInt64(row["last_seq"] as Int64),
                               lastMilliseconds: hlc == .zero ? nil : hlc.physicalMilliseconds,
                               lastTime: hlc == .zero ? nil : hlc.iso8601,
                               status: try originStatus(row["status"], origin: row["origin"]), reason: row["status_reason"])
        }
    }

    public func quarantined() throws -> [QuarantineItem] { try writer.read(Self.quarantined) }
    public func held() throws -> [HeldItem] { try writer.read(Self.held) }
    public func equivocations() throws -> [EquivocationItem] { markResolved(try writer.read(Self.equivocations)) }

    /// Names the decision that resolved each equivocation, if one did.
    func markResolved(_ items: [EquivocationItem]) -> [EquivocationItem] {
        let state = governance
        guard !state.resolutions.isEmpty else { return items }
        return items.map { item in
            var item = item
            if let id = EntryID(item.entry), let r = state.resolution(of: id.origin, at: id.seq) {
                item.resolvedBy = "\(r.by), keeping \(r.keep.hash.hex.prefix(16))…"
            }
            return item
        }
    }

    static func quarantined(_ db: Database) throws -> [QuarantineItem] {
        do {
            return try Row.fetchAll(db, sql: "SELECT * FROM paxsync_quarantine ORDER BY id").map { row in
                let origin: String? = row["origin"]
                let seq: Int64? = row["seq"]
                return QuarantineItem(entry: origin.map { "\($0):\(seq ?? 0)" }, code: row["code"], reason: row["reason"],
                                      blocksOrigin: row["blocks_origin"],
                                      receivedAt: CivilTime.iso8601(milliseconds: UInt64(row["received_at"] as Int64)),
                                      hash: [UInt8](row["hash"] as Data).hex)
            }
        }
    }

    static func held(_ db: Database) throws -> [HeldItem] {
        do {
            return try Row.fetchAll(db, sql: "SELECT * FROM paxsync_held ORDER BY origin, seq").map { row in
                let entry = "\(row["origin"] as String):\(row["seq"] as Int64)"
                return HeldItem(entry: entry, code: try holdReason(row["reason_code"], entry: entry), reason: row["reason"],
                                receivedAt: CivilTime.iso8601(milliseconds: UInt64(row["received_at"] as Int64)))
            }
        }
    }

    static func equivocations(_ db: Database) throws -> [EquivocationItem] {
        do {
            return try Row.fetchAll(db, sql: "SELECT * FROM paxsync_equivocations ORDER BY origin, seq").map { row in
                EquivocationItem(entry: "\(row["origin"] as String):\(row["seq"] as Int64)",
                                 hashA: [UInt8](row["hash_a"] as Data).hex, hashB: [UInt8](row["hash_b"] as Data).hex,
                                 detectedAt: CivilTime.iso8601(milliseconds: UInt64(row["detected_at"] as Int64)))
            }
        }
    }

    /// Both signed entries of every equivocation, as evidence.
    public func equivocationEvidence() throws -> [(SignedEntry, SignedEntry)] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM paxsync_equivocations ORDER BY origin, seq").map { row in
                (try SignedEntry(body: [UInt8](row["body_a"] as Data), signature: [UInt8](row["signature_a"] as Data)),
                 try SignedEntry(body: [UInt8](row["body_b"] as Data), signature: [UInt8](row["signature_b"] as Data)))
            }
        }
    }

    /// A record's merged state and every event that made it.
    public func explain(table: TableSpec, key: String) throws -> (ResolvedRecord, [RecordEvent]) {
        _ = try table.parseKey(key)
        return try writer.read { db in
            let events = try loadEvents(db, table: table.name, key: key).sorted { $0.stamp < $1.stamp }
            return (Merge.resolve(table: table, key: key, events: events.filter(\.counts)), events)
        }
    }
}

extension Replica {
    /// Runs one read-only SQL statement. Statements that would write are refused.
    /// Runs one read-only statement: at most `limit` rows (`truncated` says
    /// whether more were left), interrupted after `timeoutSeconds`.
    public func query(_ sql: String, limit: Int? = nil, timeoutSeconds: Double? = nil) throws
        -> (columns: [String], rows: [[FieldValue]], truncated: Bool) {
        let watchdog = timeoutSeconds.map { seconds in
            let item = DispatchWorkItem { [writer] in writer.interrupt() }
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: item)
            return item
        }
        defer { watchdog?.cancel() }
        do {
            return try runQuery(sql, limit: limit)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_INTERRUPT {
            throw PaxsyncError(.usage, "the query ran for more than \(timeoutSeconds.map { "\($0)" } ?? "?") s and was stopped; "
                + "narrow it, or give more time with --timeout", subject: sql)
        }
    }

    private func runQuery(_ sql: String, limit: Int?) throws -> (columns: [String], rows: [[FieldValue]], truncated: Bool) {
        try writer.read { db in
            let statement: Statement
            do { statement = try db.makeStatement(sql: sql) } catch let error as DatabaseError {
                throw PaxsyncError(.usage, "the query does not compile: \(error.message ?? "\(error)")", subject: sql)
            }
            guard statement.isReadonly else {
                throw PaxsyncError(.usage, "query runs read-only statements only; write through paxsync commands so changes are signed and logged", subject: sql)
            }
            let columns = statement.columnNames
            var rows: [[FieldValue]] = []
            let cursor = try Row.fetchCursor(statement)
            while let row = try cursor.next() {
                if let limit, rows.count >= limit { return (columns, rows, true) }
                rows.append((0..<row.count).map { FieldValue(row[$0] as DatabaseValue) })
            }
            return (columns, rows, false)
        }
    }

    /// The state digest of any replica file, opened read-only.
    public static func digest(ofFile path: String) throws -> (hex: String, rows: Int) {
        guard FileManager.default.fileExists(atPath: path) else { throw PaxsyncError(.notFound, "no such replica file", subject: path) }
        var config = Configuration()
        config.readonly = true
        let queue = try DatabaseQueue(path: onReadOnlyFileSystem(path) ? immutableURI(path) : path, configuration: config)
        return try queue.read { db in try digest(db) }
    }
}
