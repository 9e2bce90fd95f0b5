import Foundation
import GRDB
import Logging
import Synchronization
import PaxsyncLog
import PaxsyncModel

/// Settings of a replica.
public struct ReplicaConfiguration: Sendable {
    /// How far ahead of this node's clock an entry's time may be before it is
    /// held (not rejected) until the clock catches up.
    public var maxClockSkewMilliseconds: UInt64 = 5 * 60 * 1000
    /// Open without writing (audit tools on a copy). Local writes are refused.
    public var readOnly = false
    /// The newest record schema this node implements (`Schema.version`). Entries
    /// of a newer one are held; a replica opened by a build that implements it
    /// releases them (`retryHeld`). Tests set it to stand for an upgraded node.
    public var schemaVersion = Schema.version
    /// The coalition's founders (its genesis, §2.2) and founding quorum rule:
    /// where governance (§3.5) starts. Nil: the roster's members are the founders,
    /// under the default rule (more than half).
    public var founders: Roster?
    public var foundingQuorum: QuorumRule = .majority

    public init(maxClockSkewMilliseconds: UInt64 = 5 * 60 * 1000, readOnly: Bool = false, schemaVersion: UInt32 = Schema.version,
                founders: Roster? = nil, foundingQuorum: QuorumRule = .majority) {
        self.maxClockSkewMilliseconds = maxClockSkewMilliseconds
        self.readOnly = readOnly
        self.schemaVersion = schemaVersion
        self.founders = founders
        self.foundingQuorum = foundingQuorum
    }
}

/// A node's SQLite replica: the shared records, the append-only log of every
/// origin's entries, and the merge metadata. The one owner of the database.
///
/// Every entry — written here or received — goes through `apply`, which checks
/// it and merges it in the same transaction as its log append.
///
/// Durability: the database runs in WAL mode with `synchronous = FULL`, so a
/// transaction is on stable storage when its commit returns; a write reported
/// to the user survives kill -9 and power loss.
public final class Replica: Sendable {
    public let nodeID: String
    /// The roster entries are judged against; a daemon replaces it when
    /// roster.json changes (``updateRoster(_:)``).
    public var roster: Roster { members.withLock { $0.roster } }
    public let path: String
    public let configuration: ReplicaConfiguration
    /// A pool (WAL: readers beside the one writer); a read-only queue on an
    /// immutable file when the replica's directory cannot be written.
    let writer: any DatabaseWriter
    let clock: any PhysicalClock
    let signingKey: NodeSigningKey?
    /// Each member's roster key (its first; rotations are in the log).
    var publicKeys: [String: [UInt8]] { members.withLock { $0.publicKeys } }
    /// The roster's member ids, computed once per roster (the apply path checks them per entry).
    public var memberIDs: Set<String> { members.withLock { $0.ids } }
    /// The roster file's members and what governance (§3.5) decided about them.
    struct Members: Sendable {
        /// The roster file as loaded.
        var base: Roster
        /// The members this node syncs with: the file's, less those suspended or
        /// removed by decision, plus those admitted by decision.
        var roster: Roster
        /// Every member whose entries are judged (removed ones included: their
        /// entries up to the cut stay valid).
        var ids: Set<String>
        var publicKeys: [String: [UInt8]]
        init(_ base: Roster, governance: GovernanceState? = nil) {
            self.base = base
            var members = base.members
            if let governance {
                members.removeAll { governance.members[$0.id].map { $0.status != .active } ?? false }
                // A TLS key rotated by a logged entry overrides the file's pin.
                for i in members.indices {
                    guard let governed = governance.members[members[i].id], governed.tlsPinDeclaredBy != nil else { continue }
                    members[i].tlsPin = governed.member.tlsPin?.hex
                    members[i].tlsPinPrevious = governed.previousTLSPin?.hex
                    members[i].tlsPinPreviousUntil = governed.previousTLSPinUntil
                }
                for m in governance.members.values.sorted(by: { $0.member.id < $1.member.id })
                where m.status == .active && base.member(m.member.id) == nil {
                    var member = RosterMember(governed: m.member)
                    member.tlsPinPrevious = m.previousTLSPin?.hex
                    member.tlsPinPreviousUntil = m.previousTLSPinUntil
                    members.append(member)
                }
            }
            roster = Roster(coalition: base.coalition, members: members)
            publicKeys = Dictionary(uniqueKeysWithValues: base.members.map { ($0.id, $0.publicKeyBytes) })
            if let governance {
                for m in governance.members.values where publicKeys[m.member.id] == nil {
                    publicKeys[m.member.id] = m.member.signingKey
                }
            }
            ids = Set(publicKeys.keys)
        }
    }
    let members: Mutex<Members>
    /// What the governance entries applied here decide (§3.5), and a counter
    /// bumped at each change (for the daemon to follow).
    let governed = Mutex<(state: GovernanceState, version: Int)>((.empty, 0))
    /// How many governance entries the file held when ``governed`` was last
    /// brought up to date from it (`followGovernance`).
    let governedEntries = Mutex(-1)
    /// The governance state before the write transaction in progress changed it,
    /// put back if that transaction rolls back.
    let governanceBeforeTransaction = Mutex<GovernanceState?>(nil)
    /// Decoded governance entries and the state in each proposal's causal past
    /// (both fixed once written; cleared when the founders change).
    let governanceCache = Mutex<(records: [EntryID: GovernanceRecord], stateAt: [EntryRef: GovernanceState])>(([:], [:]))
    let logger: Logger
    /// Decoded record histories of the write path.
    let historyCache = HistoryCache()
    /// Origins that have rotated their signing key (a superset: an origin is added
    /// when its rotation is applied, even in a transaction that rolls back). The
    /// others sign with their roster key, looked up without a query.
    let rotatedOrigins = Mutex<Set<String>>([])

    /// Opens (creating if needed) the replica at `path`.
    ///
    /// - Parameters:
    ///   - nodeID: The member this node is; recorded on first open and checked after.
    ///   - roster: The coalition roster; entries are judged against it.
    ///   - signingKey: The node's key, needed for local writes only.
    ///   - clock: Physical time for the hybrid logical clock and skew checks.
    public init(path: String, nodeID: String, roster: Roster, signingKey: NodeSigningKey? = nil,
                clock: any PhysicalClock = SystemClock(), configuration: ReplicaConfiguration = .init(),
                logger: Logger = Logger(label: "paxsync.replica")) throws {
        guard roster.member(nodeID) != nil else {
            throw PaxsyncError(.badInput, "node \(nodeID) is not a member of the roster", subject: path)
        }
        var config = Configuration()
        config.readonly = configuration.readOnly
        config.busyMode = .timeout(10)
        config.label = "paxsync.\(nodeID)"
        config.prepareDatabase { db in
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
        }
        let readOnlyMount = Self.onReadOnlyFileSystem(path)
        if !configuration.readOnly && readOnlyMount {
            throw PaxsyncError(.storage, "the data directory is on a read-only file system, so this command cannot write the replica (read commands such as digest, query, status and log verify work)",
                               subject: (path as NSString).deletingLastPathComponent)
        }
        do {
            if !readOnlyMount {
                self.writer = try DatabasePool(path: path, configuration: config)
            } else {
                // SQLite cannot create the WAL's index beside the file on a read-only
                // file system; nothing can write the file there either, so it is
                // opened as immutable.
                self.writer = try DatabaseQueue(path: Self.immutableURI(path), configuration: config)
            }
            // Opening an up-to-date replica writes nothing: read commands leave
            // it untouched (and work when its disk is full).
            if !configuration.readOnly, try !writer.read({ try Self.migrator.hasCompletedMigrations($0) }) {
                // A replica that already holds a log says what it migrates: v5 reads the whole log
                // (about 15 s per million row changes on a 2-core machine), and nothing else shows it.
                let (applied, entries) = try writer.read { db in
                    (try Self.migrator.appliedIdentifiers(db),
                     try db.tableExists("paxsync_log") ? try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM paxsync_log") ?? 0 : 0)
                }
                let pending = Self.migrator.migrations.filter { !applied.contains($0) }
                let began = DispatchTime.now().uptimeNanoseconds
                if entries > 0 {
                    logger.notice("migrating the replica", metadata: ["node": "\(nodeID)", "path": "\(path)", "entries": "\(entries)",
                                                                      "migrations": "\(pending.joined(separator: "; "))"])
                }
                try Self.migrator.migrate(writer)
                if entries > 0 {
                    logger.notice("replica migrated", metadata: ["node": "\(nodeID)", "path": "\(path)", "seconds":
                        "\(String(format: "%.1f", Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9))"])
                }
            }
        } catch {
            throw PaxsyncError(.storage, "cannot open the replica", subject: path, underlying: error)
        }
        self.path = path
        self.nodeID = nodeID
        self.members = Mutex(Members(roster))
        self.signingKey = signingKey
        self.clock = clock
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "node"] = "\(nodeID)"
        self.logger = logger
        let rotated = try? writer.read { db -> Set<String> in
            // A replica opened read-only before its v2 migration has no rotations table, and no rotation.
            guard try db.tableExists("paxsync_signing_keys") else { return [] }
            return Set(try String.fetchAll(db, sql: "SELECT DISTINCT origin FROM paxsync_signing_keys"))
        }
        rotatedOrigins.withLock { $0 = rotated ?? [] }
        if let state = try? writer.read({ db in try self.evaluateGovernance(db) }) {
            governed.withLock { $0.state = state }
            members.withLock { $0 = Members($0.base, governance: state) }
        }
        // The node signs with the key in effect for its next entry: the roster's, or its latest rotation's.
        if let signingKey {
            let current = try? writer.read { db in try self.keyInEffect(db, origin: nodeID, seq: .max) }
            guard current == Array(signingKey.key.publicKey.rawRepresentation) else {
                throw PaxsyncError(.badInput, rotatedOrigins.withLock { $0.contains(nodeID) }
                    ? "the signing key is not \(nodeID)'s current key: the log rotated it (`paxsync key rotate`) or a decision revoked it (`paxsync key install`)"
                    : "the signing key does not match the roster's key for \(nodeID)", subject: path)
            }
        }
        let recorded = try? writer.read { db in try String.fetchOne(db, sql: "SELECT value FROM paxsync_node WHERE name = 'node_id'") }
        if let recorded, recorded != nodeID {
            throw PaxsyncError(.badInput, "this replica belongs to node \(recorded), not \(nodeID)", subject: path)
        }
        if recorded == nil && !configuration.readOnly {
            try writer.write { db in
                try db.execute(sql: "INSERT OR IGNORE INTO paxsync_node(name, value) VALUES ('node_id', ?)", arguments: [nodeID])
            }
        }
    }

    /// Whether the directory holding `path` is on a file system mounted read-only.
    static func onReadOnlyFileSystem(_ path: String) -> Bool {
        let directory = (path as NSString).deletingLastPathComponent
        var info = statvfs()
        guard statvfs(directory.isEmpty ? "." : directory, &info) == 0 else { return false }
        return info.f_flag & UInt(ST_RDONLY) != 0
    }

    /// An SQLite URI that opens `path` read-only as an immutable file (no WAL index, no locks).
    static func immutableURI(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return "file:" + (absolute.addingPercentEncoding(withAllowedCharacters: allowed) ?? absolute) + "?mode=ro&immutable=1"
    }

    /// Checks SQLite's own integrity check; returns its messages ("ok" when sound).
    public func integrityCheck() throws -> [String] {
        try writer.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }

    /// Per origin, the highest contiguous sequence applied here.
    public func versionVector() throws -> VersionVector {
        try writer.read { db in VersionVector(try Self.versionVector(db)) }
    }

    static func versionVector(_ db: Database) throws -> [String: UInt64] {
        var vv: [String: UInt64] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT origin, last_seq FROM paxsync_origins")) {
            vv[row["origin"]] = UInt64(row["last_seq"] as Int64)
        }
        return vv
    }

    /// Runs a read against the replica (for queries and exports).
    public func read<T>(_ body: (Database) throws -> T) throws -> T { try writer.read(body) }
}

/// The system's real-time clock.
public struct SystemClock: PhysicalClock {
    public init() {}
    public func nowMilliseconds() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }
}

extension FieldValue {
    /// The value as GRDB binds it; nil for SQL NULL.
    var storable: (any DatabaseValueConvertible)? {
        switch self {
        case .null: nil
        case .integer(let i): i
        case .real(let d): d
        case .text(let s): s
        }
    }

    var databaseValue: DatabaseValue { storable?.databaseValue ?? .null }

    init(_ dbValue: DatabaseValue) {
        switch dbValue.storage {
        case .null: self = .null
        case .int64(let i): self = .integer(i)
        case .double(let d): self = .real(d)
        case .string(let s): self = .text(s)
        case .blob(let b): self = .text(b.base64EncodedString())
        }
    }
}
