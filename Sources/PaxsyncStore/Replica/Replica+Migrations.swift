import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel

extension Replica {
    /// The replica's migrations, in order. Shipped migrations are never edited;
    /// schema changes add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: shared records and log") { db in
            try db.execute(sql: """
                -- Shared records: the merged state, readable with plain SQL.
                CREATE TABLE facilities (
                    id TEXT PRIMARY KEY NOT NULL,
                    owner TEXT NOT NULL,
                    name TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    country TEXT NOT NULL,
                    latitude REAL NOT NULL,
                    longitude REAL NOT NULL
                );
                CREATE TABLE stocks (
                    facility_id TEXT NOT NULL,
                    mineral TEXT NOT NULL,
                    form TEXT NOT NULL,
                    quantity_kg INTEGER NOT NULL,
                    grade_pct REAL,
                    as_of TEXT NOT NULL,
                    PRIMARY KEY (facility_id, mineral, form)
                );
                CREATE TABLE shipments (
                    id TEXT PRIMARY KEY NOT NULL,
                    exporter TEXT NOT NULL,
                    mineral TEXT NOT NULL,
                    form TEXT NOT NULL,
                    quantity_kg INTEGER NOT NULL,
                    from_facility TEXT NOT NULL,
                    to_facility TEXT NOT NULL,
                    importer TEXT NOT NULL,
                    carrier TEXT,
                    departed_at TEXT,
                    eta TEXT,
                    arrived_at TEXT,
                    status TEXT NOT NULL
                );
                CREATE TABLE reserve_pledges (
                    reserve_id TEXT NOT NULL,
                    mineral TEXT NOT NULL,
                    member TEXT NOT NULL,
                    share_kg INTEGER NOT NULL,
                    PRIMARY KEY (reserve_id, mineral, member)
                );
                CREATE VIEW pooled_reserves AS
                    SELECT reserve_id, mineral, SUM(share_kg) AS total_kg, COUNT(*) AS members
                    FROM reserve_pledges GROUP BY reserve_id, mineral;

                -- The append-only log: every accepted entry of every origin, exact bytes.
                CREATE TABLE paxsync_log (
                    position INTEGER PRIMARY KEY,
                    origin TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    hlc INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    prev_hash BLOB NOT NULL,
                    body BLOB NOT NULL,
                    signature BLOB NOT NULL,
                    change_count INTEGER NOT NULL,
                    received_at INTEGER NOT NULL,
                    UNIQUE (origin, seq)
                );
                CREATE INDEX paxsync_log_hlc ON paxsync_log(hlc);
                CREATE TRIGGER paxsync_log_append_only_update BEFORE UPDATE ON paxsync_log
                    BEGIN SELECT RAISE(ABORT, 'paxsync_log is append-only'); END;
                CREATE TRIGGER paxsync_log_append_only_delete BEFORE DELETE ON paxsync_log
                    BEGIN SELECT RAISE(ABORT, 'paxsync_log is append-only'); END;

                -- Every row change, per record: the merge input.
                CREATE TABLE paxsync_record_changes (
                    tbl TEXT NOT NULL,
                    key TEXT NOT NULL,
                    origin TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    hlc INTEGER NOT NULL,
                    op TEXT NOT NULL,
                    change BLOB NOT NULL,
                    PRIMARY KEY (tbl, key, origin, seq)
                ) WITHOUT ROWID;

                -- Per origin: the head of its chain here, and whether it is blocked.
                CREATE TABLE paxsync_origins (
                    origin TEXT PRIMARY KEY NOT NULL,
                    last_seq INTEGER NOT NULL,
                    last_hash BLOB NOT NULL,
                    last_hlc INTEGER NOT NULL,
                    status TEXT NOT NULL DEFAULT 'ok',
                    status_reason TEXT,
                    status_entry TEXT
                );

                -- Entries that cannot be judged yet: a gap, a missing dependency,
                -- a clock too far ahead, an unsupported version, a blocked origin.
                CREATE TABLE paxsync_held (
                    origin TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    hlc INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    signature BLOB NOT NULL,
                    reason_code TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    wait_origin TEXT,
                    wait_seq INTEGER,
                    wait_until INTEGER,
                    received_at INTEGER NOT NULL,
                    PRIMARY KEY (origin, seq, hash)
                );
                CREATE INDEX paxsync_held_wait ON paxsync_held(wait_origin, wait_seq);

                -- Entries rejected whole, with the reason; kept as evidence.
                CREATE TABLE paxsync_quarantine (
                    id INTEGER PRIMARY KEY,
                    origin TEXT,
                    seq INTEGER,
                    hash BLOB NOT NULL,
                    body BLOB NOT NULL,
                    signature BLOB NOT NULL,
                    code TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    blocks_origin INTEGER NOT NULL,
                    received_at INTEGER NOT NULL,
                    UNIQUE (hash, signature)
                );

                -- Two validly signed entries with the same origin and seq.
                CREATE TABLE paxsync_equivocations (
                    origin TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    hash_a BLOB NOT NULL,
                    body_a BLOB NOT NULL,
                    signature_a BLOB NOT NULL,
                    hash_b BLOB NOT NULL,
                    body_b BLOB NOT NULL,
                    signature_b BLOB NOT NULL,
                    detected_at INTEGER NOT NULL,
                    PRIMARY KEY (origin, seq, hash_b)
                );

                -- Open conflicts: concurrent writes that lost, until settled.
                CREATE TABLE paxsync_conflicts (
                    tbl TEXT NOT NULL,
                    key TEXT NOT NULL,
                    field TEXT NOT NULL,
                    decision TEXT NOT NULL,
                    winner_value TEXT,
                    winner_deleted INTEGER NOT NULL,
                    winner_origin TEXT NOT NULL,
                    winner_hlc INTEGER NOT NULL,
                    winner_entry TEXT NOT NULL,
                    loser_value TEXT,
                    loser_origin TEXT NOT NULL,
                    loser_hlc INTEGER NOT NULL,
                    loser_entry TEXT NOT NULL,
                    PRIMARY KEY (tbl, key, field, loser_origin, loser_hlc)
                );

                -- Node settings: its id and its hybrid logical clock.
                CREATE TABLE paxsync_node (
                    name TEXT PRIMARY KEY NOT NULL,
                    value
                );
                """)
        }
        // Key rotation (PROTOCOL §3.4): from which seq each rotated key signs its origin's entries.
        migrator.registerMigration("v2: signing-key rotations") { db in
            try db.execute(sql: """
                CREATE TABLE paxsync_signing_keys (
                    origin TEXT NOT NULL,
                    from_seq INTEGER NOT NULL,
                    key BLOB NOT NULL,
                    PRIMARY KEY (origin, from_seq)
                ) WITHOUT ROWID;
                """)
        }
        // Governance (PROTOCOL §3.5): which log entries are governance actions, and
        // which logged entries a decision cut from the merge (their changes are kept
        // for judging later entries; the log itself stays append-only).
        migrator.registerMigration("v3: governance") { db in
            try db.execute(sql: """
                ALTER TABLE paxsync_record_changes ADD COLUMN counts INTEGER NOT NULL DEFAULT 1;
                CREATE TABLE paxsync_cuts (
                    origin TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    PRIMARY KEY (origin, seq)
                ) WITHOUT ROWID;
                CREATE TABLE paxsync_governance (
                    origin TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    proposal_origin TEXT,
                    proposal_seq INTEGER,
                    PRIMARY KEY (origin, seq)
                ) WITHOUT ROWID;
                CREATE INDEX paxsync_governance_approvals ON paxsync_governance(proposal_origin, proposal_seq, origin);
                """)
        }
        // Revocations and resolved equivocations (PROTOCOL §3.5) supersede a branch of an
        // origin from a seq on: its entries stay in the log (and are relayed, so every node
        // holds the same entries) but are marked superseded, and the standing branch's
        // entries join the log at the same seqs. The log is rebuilt without UNIQUE(origin, seq)
        // (positions and bytes unchanged); `paxsync_standing` is the log without them.
        migrator.registerMigration("v4: superseded branches") { db in
            try db.execute(sql: """
                DROP TRIGGER paxsync_log_append_only_update;
                DROP TRIGGER paxsync_log_append_only_delete;
                CREATE TABLE paxsync_log_v4 (
                    position INTEGER PRIMARY KEY,
                    origin TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    hlc INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    prev_hash BLOB NOT NULL,
                    body BLOB NOT NULL,
                    signature BLOB NOT NULL,
                    change_count INTEGER NOT NULL,
                    received_at INTEGER NOT NULL
                );
                INSERT INTO paxsync_log_v4(position, origin, seq, hlc, hash, prev_hash, body, signature, change_count, received_at)
                    SELECT position, origin, seq, hlc, hash, prev_hash, body, signature, change_count, received_at FROM paxsync_log ORDER BY position;
                DROP TABLE paxsync_log;
                ALTER TABLE paxsync_log_v4 RENAME TO paxsync_log;
                CREATE INDEX paxsync_log_entry ON paxsync_log(origin, seq);
                CREATE INDEX paxsync_log_hlc ON paxsync_log(hlc);
                CREATE TRIGGER paxsync_log_append_only_update BEFORE UPDATE ON paxsync_log
                    BEGIN SELECT RAISE(ABORT, 'paxsync_log is append-only'); END;
                CREATE TRIGGER paxsync_log_append_only_delete BEFORE DELETE ON paxsync_log
                    BEGIN SELECT RAISE(ABORT, 'paxsync_log is append-only'); END;
                CREATE TABLE paxsync_superseded (
                    position INTEGER PRIMARY KEY,
                    origin TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    superseded_at INTEGER NOT NULL
                );
                CREATE VIEW paxsync_standing AS
                    SELECT * FROM paxsync_log l WHERE NOT EXISTS (SELECT 1 FROM paxsync_superseded s WHERE s.position = l.position);
                """)
        }
        // Record histories refer to the logged bytes of each row change (its entry's position
        // and the change's byte range in the body) instead of holding a copy of them.
        migrator.registerMigration("v5: histories refer to the log") { db in
            try migrateHistoriesToLog(db)
        }
        return migrator
    }

    /// Rebuilds `paxsync_record_changes` with references to the log. Every stored
    /// change is mapped to the range of its standing entry's body that decodes to
    /// the same row change; one that cannot be (none has been seen) keeps its copy,
    /// so nothing is lost whatever the file holds.
    static func migrateHistoriesToLog(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE paxsync_record_changes_v5 (
                tbl TEXT NOT NULL,
                key TEXT NOT NULL,
                origin TEXT NOT NULL,
                seq INTEGER NOT NULL,
                hlc INTEGER NOT NULL,
                -- The row change is bytes [change_at, change_at + change_size) of the body of
                -- the log entry at position; `change` holds them only when that is NULL.
                position INTEGER,
                change_at INTEGER,
                change_size INTEGER,
                change BLOB,
                counts INTEGER NOT NULL DEFAULT 1,
                PRIMARY KEY (tbl, key, origin, seq)
            ) WITHOUT ROWID;
            """)
        let stored = try db.makeStatement(sql: "SELECT hlc, change, counts FROM paxsync_record_changes WHERE tbl = ? AND key = ? AND origin = ? AND seq = ?")
        let insert = try db.makeStatement(sql: """
            INSERT INTO paxsync_record_changes_v5(tbl, key, origin, seq, hlc, position, change_at, change_size, counts)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let entries = try Row.fetchCursor(db, sql: "SELECT position, origin, seq, body FROM paxsync_standing WHERE change_count > 0 ORDER BY position")
        while let entry = try entries.next() {
            let body = [UInt8](entry["body"] as Data)
            guard let ranges = ChangeSet.changeRanges(body: body) else { continue }
            let origin: String = entry["origin"], seq: Int64 = entry["seq"], position: Int64 = entry["position"]
            for range in ranges {
                guard let change = try? RowChange(serialized: Array(body[range])),
                      let row = try Row.fetchOne(stored, arguments: [change.table, change.key, origin, seq]),
                      (try? RowChange(serialized: [UInt8](row["change"] as Data))) == change else { continue }
                try insert.execute(arguments: [change.table, change.key, origin, seq, row["hlc"] as Int64, position,
                                               range.lowerBound, range.count, row["counts"] as Int64])
            }
        }
        try db.execute(sql: """
            INSERT INTO paxsync_record_changes_v5(tbl, key, origin, seq, hlc, change, counts)
                SELECT tbl, key, origin, seq, hlc, change, counts FROM paxsync_record_changes r WHERE NOT EXISTS (
                    SELECT 1 FROM paxsync_record_changes_v5 n WHERE n.tbl = r.tbl AND n.key = r.key AND n.origin = r.origin AND n.seq = r.seq);
            DROP TABLE paxsync_record_changes;
            ALTER TABLE paxsync_record_changes_v5 RENAME TO paxsync_record_changes;
            """)
    }
}
