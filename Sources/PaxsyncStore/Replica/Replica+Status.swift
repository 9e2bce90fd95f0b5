import Foundation
import GRDB
import PaxsyncModel

/// What the replica knows about its sync state, read in one transaction.
public struct ReplicaSnapshot: Sendable {
    public var origins: [OriginState]
    public var held: [HeldItem]
    public var quarantined: [QuarantineItem]
    public var equivocations: [EquivocationItem]
    public var openConflicts: Int
    public var logEntries: Int

    /// Per origin, the highest contiguous sequence held.
    public var versionVector: VersionVector {
        VersionVector(Dictionary(uniqueKeysWithValues: origins.map { ($0.origin, $0.lastSeq) }))
    }
}

extension Replica {
    /// The sync state behind `paxsync status`: origins with their chain heads,
    /// held, quarantined and equivocating entries, open conflicts.
    public func statusSnapshot() throws -> ReplicaSnapshot {
        var snapshot = try writer.read { db in
            ReplicaSnapshot(
                origins: try Self.origins(db),
                held: try Self.held(db), quarantined: try Self.quarantined(db), equivocations: try Self.equivocations(db),
                openConflicts: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM paxsync_conflicts") ?? 0,
                logEntries: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM paxsync_log") ?? 0)
        }
        snapshot.equivocations = markResolved(snapshot.equivocations)
        return snapshot
    }

    /// Copies the whole database to a new file with SQLite's online backup:
    /// a consistent snapshot, taken while other connections keep writing.
    /// `progress` gets (pages copied, total pages) as the copy advances.
    public func backup(to path: String, progress: ((Int, Int?) -> Void)? = nil) throws {
        let destination = try DatabaseQueue(path: path)
        do {
            try writer.backup(to: destination, pagesPerStep: 1024) { step in
                progress?(step.completedPageCount, step.totalPageCount)
            }
            try destination.close()
        } catch {
            throw PaxsyncError(.storage, "the online backup failed", subject: path, underlying: error)
        }
    }
}
