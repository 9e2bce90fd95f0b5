import Foundation
import GRDB
import PaxsyncModel

/// Local writes paused until a peer confirms this node's own head.
///
/// A replica restored from a backup may lack entries its origin signed after
/// the backup, which peers still hold; signing a new entry at one of those
/// sequence numbers would be an equivocation, blocking the origin on every node.
/// So a restored replica (and every replica when its daemon starts) pauses local
/// writes until a peer's hello shows the peer holds nothing of this origin beyond
/// the local head — or, when it holds more, until those entries have come back.
/// Kept in `paxsync_node` (`write_pause_*`), so every process opening the replica
/// (the daemon, the CLI) sees it.
public struct LocalWritePause: Sendable, Equatable {
    /// Why writes are paused: "the daemon started", "restored from FILE".
    public var reason: String
    /// When the pause began, in milliseconds since 1970.
    public var sinceMilliseconds: UInt64
    /// The highest sequence number of this origin a peer is known to hold, when a
    /// peer has said it holds more than the local head; nil before any peer spoke.
    public var awaitingSeq: UInt64?
    /// A standby's pause: no peer lifts it, only `paxsync promote`.
    public var untilPromoted = false
}

extension Replica {
    /// The current pause, or nil when local writes are allowed.
    public func localWritePause() throws -> LocalWritePause? {
        try writer.read { db in try Self.localWritePause(db) }
    }

    static func localWritePause(_ db: Database) throws -> LocalWritePause? {
        var values: [String: DatabaseValue] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT name, value FROM paxsync_node WHERE name LIKE 'write_pause_%'")) {
            values[row["name"]] = row["value"]
        }
        guard let reason = values["write_pause_reason"].flatMap(String.fromDatabaseValue) else { return nil }
        return LocalWritePause(reason: reason,
                               sinceMilliseconds: values["write_pause_since"].flatMap(Int64.fromDatabaseValue).map { UInt64(max(0, $0)) } ?? 0,
                               awaitingSeq: values["write_pause_awaiting"].flatMap(Int64.fromDatabaseValue).map { UInt64(max(0, $0)) },
                               untilPromoted: values["write_pause_lift"].flatMap(String.fromDatabaseValue) == "promotion")
    }

    /// Pauses local writes until a peer confirms this node's head (see ``LocalWritePause``).
    /// A pause already in place keeps its reason and what it awaits.
    public func pauseLocalWrites(reason: String) throws {
        try writer.write { db in try Self.pauseLocalWrites(db, reason: reason, now: clock.nowMilliseconds()) }
    }

    static func pauseLocalWrites(_ db: Database, reason: String, now: UInt64) throws {
        guard try localWritePause(db) == nil else { return }
        try db.execute(sql: """
            INSERT OR REPLACE INTO paxsync_node(name, value) VALUES ('write_pause_reason', ?), ('write_pause_since', ?)
            """, arguments: [reason, Int64(now)])
        try db.execute(sql: "DELETE FROM paxsync_node WHERE name IN ('write_pause_awaiting', 'write_pause_lift')")
    }

    /// A standby's pause, in place of any other: no peer's word lifts it, only
    /// `promote` (which swaps it for an ordinary pause, as after a restore).
    public func pauseLocalWritesUntilPromoted(reason: String) throws {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM paxsync_node WHERE name LIKE 'write_pause_%'")
            try Self.pauseLocalWrites(db, reason: reason, now: clock.nowMilliseconds())
            try db.execute(sql: "INSERT OR REPLACE INTO paxsync_node(name, value) VALUES ('write_pause_lift', 'promotion')")
        }
    }

    /// A promoted standby: its pause becomes an ordinary one (`reason`), lifted
    /// once a peer confirms the head, exactly as after a restore.
    public func promote(reason: String) throws {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM paxsync_node WHERE name LIKE 'write_pause_%'")
            try Self.pauseLocalWrites(db, reason: reason, now: clock.nowMilliseconds())
        }
    }

    /// Lifts the pause without a peer's confirmation: for a coalition of one, or
    /// when the operator knows no peer holds a later entry of this origin.
    /// Returns the pause that was lifted.
    @discardableResult
    public func resumeLocalWrites() throws -> LocalWritePause? {
        try writer.write { db in
            let pause = try Self.localWritePause(db)
            try db.execute(sql: "DELETE FROM paxsync_node WHERE name LIKE 'write_pause_%'")
            return pause
        }
    }

    /// What a peer's word did to the pause.
    public enum HeadConfirmation: Sendable, Equatable {
        /// No pause was in place.
        case notPaused
        /// A standby's pause: only promotion lifts it.
        case standby
        /// The peer holds nothing of this origin beyond the local head: writes resume.
        case confirmed(head: UInt64)
        /// The peer holds this origin's entries up to `seq`, beyond the local head
        /// `head`: writes stay paused until they have come back.
        case awaiting(seq: UInt64, head: UInt64)
    }

    /// A peer says it holds this node's own entries up to `peerHolds` (its
    /// hello's version vector; 0 when it holds none). Lifts the pause when the
    /// local head is at least that and at least every later sequence number a peer
    /// named before; otherwise records what is awaited.
    @discardableResult
    public func confirmOwnHead(peerHolds: UInt64) async throws -> HeadConfirmation {
        try await writer.write { [nodeID] db in
            guard let pause = try Self.localWritePause(db) else { return .notPaused }
            if pause.untilPromoted { return .standby }
            let head = try Self.versionVector(db)[nodeID] ?? 0
            let wanted = max(peerHolds, pause.awaitingSeq ?? 0)
            guard head >= wanted else {
                try db.execute(sql: "INSERT OR REPLACE INTO paxsync_node(name, value) VALUES ('write_pause_awaiting', ?)",
                               arguments: [Int64(wanted)])
                return .awaiting(seq: wanted, head: head)
            }
            try db.execute(sql: "DELETE FROM paxsync_node WHERE name LIKE 'write_pause_%'")
            return .confirmed(head: head)
        }
    }

    /// Throws when local writes are paused, saying why and what lifts the pause.
    static func checkLocalWritesAllowed(_ db: Database, nodeID: String) throws {
        guard let pause = try localWritePause(db) else { return }
        if pause.untilPromoted {
            throw PaxsyncError(.unavailable, """
                this node is a standby (\(pause.reason)): it syncs everything but never writes or signs; write on the \
                primary, or make this node the primary with `paxsync promote` once the primary is down for good
                """, subject: nodeID)
        }
        let head = try versionVector(db)[nodeID] ?? 0
        let since = Date(timeIntervalSince1970: Double(pause.sinceMilliseconds) / 1000).formatted(.iso8601)
        let waiting = pause.awaitingSeq.map { "\(nodeID)'s entries \(head + 1)–\($0) to come back from a peer (the replica holds \(nodeID):\(head))" }
            ?? "a peer to confirm it holds no entry of \(nodeID) beyond \(nodeID):\(head)"
        throw PaxsyncError(.unavailable, """
            local writes are paused (\(pause.reason), since \(since)): waiting for \(waiting), so that this node never \
            signs a second entry for a sequence number it already used; start the daemon (`paxsync serve`) and let it \
            reach a peer. For a coalition of one, or if no peer can hold a later entry of \(nodeID): \
            `paxsync writes resume --force`
            """, subject: nodeID)
    }
}
