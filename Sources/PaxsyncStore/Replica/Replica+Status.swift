import Foundation
import GRDB
import PaxsyncModel

/// What the replica knows about its sync state, read in one transaction.
public struct ReplicaSnapshot: Sendable {
    public struct Origin: Sendable {
        public let origin: String
        public let lastSeq: UInt64
        /// Physical time of the newest entry held (its HLC), in milliseconds.
        public let lastMilliseconds: UInt64?
        public let lastTime: String?
        public let status: String
        public let reason: String?
    }

    public var versionVector: [String: UInt64]
    public var origins: [Origin]
    public var held: [HeldItem]
    public var quarantined: [QuarantineItem]
    public var equivocations: [EquivocationItem]
    public var openConflicts: Int
    public var logEntries: Int
}

extension Replica {
    /// The sync state behind `paxsync status`: origins with their chain heads,
    /// held, quarantined and equivocating entries, open conflicts.
    public func statusSnapshot() throws -> ReplicaSnapshot {
        try writer.read { db in
            let origins = try Row.fetchAll(db, sql: "SELECT * FROM paxsync_origins ORDER BY origin").map { row in
                let hlc = HLC(rawValue: UInt64(bitPattern: row["last_hlc"]))
                return ReplicaSnapshot.Origin(origin: row["origin"], lastSeq: UInt64(row["last_seq"] as Int64),
                                              lastMilliseconds: hlc == .zero ? nil : hlc.physicalMilliseconds,
                                              lastTime: hlc == .zero ? nil : hlc.iso8601,
                                              status: row["status"], reason: row["status_reason"])
            }
            return ReplicaSnapshot(
                versionVector: try Self.versionVector(db), origins: origins,
                held: try Self.held(db), quarantined: try Self.quarantined(db), equivocations: try Self.equivocations(db),
                openConflicts: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM paxsync_conflicts") ?? 0,
                logEntries: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM paxsync_log") ?? 0)
        }
    }

    /// Copies the whole database to a new file with SQLite's online backup:
    /// a consistent snapshot, taken while other connections keep writing.
    public func backup(to path: String) throws {
        let destination = try DatabaseQueue(path: path)
        do {
            try writer.backup(to: destination)
            try destination.close()
        } catch {
            throw PaxsyncError(.storage, "the online backup failed", subject: path, cause: "\(error)")
        }
    }
}
