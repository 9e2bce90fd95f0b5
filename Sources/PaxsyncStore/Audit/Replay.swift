import Foundation
import PaxsyncLog
import PaxsyncModel

/// Where a replay or verification reads entries from.
public enum LogSource {
    case replica(Replica)
    case bundle(path: String)
}

/// Where a replay stops.
public enum ReplayLimit: Sendable {
    case none
    /// Entries stamped at or before this time (milliseconds since the epoch).
    /// Causally closed: an entry's dependencies are always stamped earlier.
    case time(UInt64)
    /// Entries up to and including this one, in the source's log order.
    case entry(EntryID)
}

/// Rebuilds shared state from a log alone, through the ordinary apply path.
public enum Replay {
    public struct Result: Codable, Sendable {
        public var applied = 0
        public var skipped = 0
        public var digest = ""
        public var rows = 0
    }

    /// Streams the source's entries in log order to `body`, with the roster and
    /// node id the source declares. Returns the total count when known.
    public static func entries(of source: LogSource,
                               _ body: (_ body: [UInt8], _ signature: [UInt8], _ position: String) throws -> Bool) throws {
        switch source {
        case .replica(let replica):
            // Superseded entries too (§3.5): entries after them may depend on them, as on every node.
            try replica.forEachLoggedEntry(includingSuperseded: true) { entry, position in
                try body(entry.body, entry.signature, "log position \(position)")
            }
        case .bundle(let path):
            let reader = try BundleReader(path: path)
            while let (b, s) = try reader.nextRaw() {
                if try !body(b, s, "bundle entry \(reader.entriesRead)") { break }
            }
        }
    }

    public static func roster(of source: LogSource) throws -> (roster: Roster, nodeID: String, total: Int?) {
        switch source {
        case .replica(let replica): return (replica.baseRoster, replica.nodeID, try replica.logCount())
        case .bundle(let path):
            let header = try BundleReader(path: path).header
            let node = header.roster.member(header.exportedBy) != nil ? header.exportedBy : header.roster.members[0].id
            return (header.roster, node, Int(header.entryCount))
        }
    }

    /// Replays `source` into a new replica file at `path`.
    public static func run(from source: LogSource, into path: String, until limit: ReplayLimit = .none,
                           progress: ((Int, Int?) -> Void)? = nil) throws -> Result {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw PaxsyncError(.usage, "the target file exists; replay builds a new replica", subject: path)
        }
        let (roster, nodeID, total) = try roster(of: source)
        // Replay judges entries as of any time: nothing is held for clock skew.
        // Governance is decided again from the log, starting from the same founders.
        let replica = try Replica(path: path, nodeID: nodeID, roster: roster, clock: ManualClock(milliseconds: 1 << 46),
                                  configuration: try foundingConfiguration(of: source))
        var result = Result()
        var seen = 0
        var batcher = ApplyBatcher(replica: replica) { batch, outcomes in
            for (entry, outcome) in zip(batch, outcomes) where outcome != .applied {
                throw PaxsyncError(.invalidState, "replay could not apply the entry: \(outcome)", subject: entry.id.description)
            }
            result.applied += batch.count
            progress?(seen, total)
        }
        try entries(of: source) { body, signature, position in
            let entry: SignedEntry
            do { entry = try SignedEntry(body: body, signature: signature) } catch let error as PaxsyncError { throw error.within(position) }
            seen += 1
            switch limit {
            case .time(let t) where entry.changeSet.hlc.physicalMilliseconds > t:
                result.skipped += 1
                return true
            default: break
            }
            try batcher.add(entry)
            if case .entry(let id) = limit, entry.id == id { return false }
            return true
        }
        try batcher.flush()
        if case .entry(let id) = limit, try replica.logEntry(id) == nil {
            throw PaxsyncError(.notFound, "entry \(id) is not in the source log", subject: "\(id)")
        }
        (result.digest, result.rows) = try replica.digest()
        return result
    }

    /// Where the source's governance starts: a bundle's genesis, or the replica's founders.
    static func foundingConfiguration(of source: LogSource) throws -> ReplicaConfiguration {
        switch source {
        case .replica(let replica):
            return ReplicaConfiguration(founders: replica.configuration.founders, foundingQuorum: replica.configuration.foundingQuorum)
        case .bundle(let path):
            let genesis = try BundleReader(path: path).header.genesis
            return ReplicaConfiguration(founders: genesis?.roster,
                                        foundingQuorum: genesis?.quorum ?? .majority)
        }
    }

    /// What a bundle's signatures are checked against. A bundle carries its
    /// own public keys, unsigned: verified against them, it proves only that it
    /// is internally consistent (anyone can make such a bundle). Trusting a
    /// roster or key fingerprints obtained elsewhere makes it evidence.
    public enum Trust: Sendable {
        /// The keys the source carries (a replica's roster, a bundle's header).
        case carried
        /// This roster's keys; the bundle's own are ignored.
        case roster(Roster, source: String)
        /// The bundle's keys, each accepted only if its SHA-256 matches the
        /// fingerprint given for its member; members without one are not trusted.
        case fingerprints([String: String])
    }

    /// Verifies every entry of a source; for a bundle, also that it holds
    /// exactly the entries its header announces.
    public static func verify(_ source: LogSource, trusting trust: Trust = .carried,
                              progress: ((Int, Int?) -> Void)? = nil) throws -> LogVerifier.Report {
        let (carried, _, total) = try roster(of: source)
        let isBundle = if case .bundle = source { true } else { false }
        let founding = try foundingConfiguration(of: source)
        var verifier: LogVerifier
        switch trust {
        case .carried:
            let genesis: Genesis? = if case .bundle(let path) = source { try BundleReader(path: path).header.genesis } else { nil }
            if let genesis {
                // The founders' keys are signed by every founder: the coalition id names them.
                verifier = LogVerifier(roster: carried, trust: "the bundle's genesis, coalition \(genesis.coalitionID), signed by every "
                    + "founder (compare the id out of band), the members its decisions admitted, and its header keys for the other members (unsigned)",
                    founders: genesis.roster, quorum: founding.foundingQuorum)
                verifier.note(coalitionId: genesis.coalitionID)
                if let member = genesis.roster.members.first(where: { carried.member($0.id)?.signingKey != $0.signingKey }) {
                    verifier.fail(PaxsyncError(.badSignature, "the bundle's header does not list founder \(member.id) with the key its genesis gives",
                                               subject: member.id))
                    return verifier.report
                }
            } else {
                verifier = LogVerifier(roster: carried, trust: isBundle
                    ? "the bundle's own header keys (unsigned: this proves internal consistency only, not who wrote the entries)"
                    : "this node's roster and the members its decisions admitted", founders: founding.founders, quorum: founding.foundingQuorum)
            }
        case .roster(let roster, let source):
            verifier = LogVerifier(roster: roster, trust: "the roster \(source)")
        case .fingerprints(let fingerprints):
            let trusted = carried.members.filter { fingerprints[$0.id]?.lowercased() == $0.keyFingerprint }
            verifier = LogVerifier(roster: Roster(coalition: carried.coalition, members: trusted),
                                   trust: "the bundle's keys whose fingerprints were given")
            if let member = carried.members.first(where: { m in fingerprints[m.id].map { $0.lowercased() != m.keyFingerprint } ?? false }) {
                verifier.fail(PaxsyncError(.badSignature,
                    "the bundle's key for \(member.id) has fingerprint \(member.keyFingerprint), not the trusted \(fingerprints[member.id]!.lowercased())",
                    subject: member.id))
                return verifier.report
            }
        }
        switch source {
        case .replica(let replica): verifier.markSuperseded(try replica.supersededEntries())
        case .bundle(let path): verifier.markSuperseded(try BundleReader(path: path).header.superseded)
        }
        var count = 0
        do {
            try entries(of: source) { body, signature, position in
                try verifier.check(body: body, signature: signature, position: position)
                count += 1
                if count % 1000 == 0 { progress?(count, total) }
                return true
            }
            if case .replica(let replica) = source {
                try crossCheckHeads(replica, verifier.heads)
            }
            if isBundle, let total {
                verifier.announce(UInt64(total))
                if count != total {
                    throw PaxsyncError(.badInput, "the header announces \(total) entries but the bundle holds \(count): it was cut short or extended",
                                       subject: "bundle entry \(count + 1)")
                }
            }
        } catch let error as PaxsyncError {
            verifier.fail(error)
        }
        verifier.concludeGovernance()
        progress?(count, total)
        return verifier.report
    }

    /// Compares the chain heads the verified log ends at with the heads the
    /// replica records (`paxsync_origins`): entries deleted from the log's tail
    /// leave a log that verifies on its own but no longer matches them.
    static func crossCheckHeads(_ replica: Replica, _ verified: [String: (seq: UInt64, hash: [UInt8])]) throws {
        let recorded = try replica.recordedHeads()
        for origin in Set(recorded.keys).union(verified.keys).sorted() {
            let have = verified[origin], want = recorded[origin]
            guard have?.seq == want?.seq, have?.hash == want?.hash else {
                let logged = have.map { "\(origin):\($0.seq)" } ?? "no entry of \(origin)"
                let heads = want.map { "\(origin):\($0.seq)" } ?? "no head for \(origin)"
                throw PaxsyncError(.chainMismatch, "the log ends at \(logged) but the replica records its head as \(heads): "
                    + "log entries were deleted or altered outside paxsync", subject: origin)
            }
        }
    }

    /// What `log verify --deep` adds: the log replayed into a scratch replica
    /// gives the live digest and the live conflicts.
    public struct DeepCheck: Codable, Sendable {
        public var liveDigest: String
        public var replayedDigest: String
        public var liveConflicts: Int
        public var replayedConflicts: Int
        public var ok: Bool { liveDigest == replayedDigest && liveConflicts == replayedConflicts && conflictsMatch }
        public var conflictsMatch: Bool
    }

    /// Replays the replica's log into a scratch file in `scratchDirectory` and
    /// compares the state and the conflicts with the live tables.
    public static func deepCheck(_ replica: Replica, scratchDirectory: String,
                                 progress: ((Int, Int?) -> Void)? = nil) throws -> DeepCheck {
        let path = (scratchDirectory as NSString).appendingPathComponent("paxsync-deep-\(UUID().uuidString.prefix(8)).sqlite")
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let result = try run(from: .replica(replica), into: path, progress: progress)
        let rebuilt = try Replica(path: path, nodeID: replica.nodeID, roster: replica.baseRoster,
                                  configuration: ReplicaConfiguration(readOnly: true, founders: replica.configuration.founders,
                                                                      foundingQuorum: replica.configuration.foundingQuorum))
        let live = try replica.conflicts(), replayed = try rebuilt.conflicts()
        return DeepCheck(liveDigest: try replica.digest().hex, replayedDigest: result.digest,
                         liveConflicts: live.count, replayedConflicts: replayed.count, conflictsMatch: Set(live) == Set(replayed))
    }

    /// Writes the replica's whole log and the roster's public keys to a bundle.
    /// With `genesis`, the bundle carries the coalition's genesis and its founders' signatures.
    public static func exportBundle(_ replica: Replica, to path: String, now: UInt64, genesis: Genesis? = nil,
                                    progress: ((Int, Int?) -> Void)? = nil) throws -> Int {
        let total = try replica.logCount()
        let writer = try BundleWriter(path: path, header: .init(exportedBy: replica.nodeID, exportedAtMilliseconds: now,
                                                                roster: replica.baseRoster, entryCount: UInt64(total), genesis: genesis,
                                                                superseded: try replica.supersededEntries()))
        var count = 0
        try replica.forEachLoggedEntry(includingSuperseded: true) { entry, _ in
            try writer.append(entry)
            count += 1
            if count % 1000 == 0 { progress?(count, total) }
            return true
        }
        try writer.close()
        progress?(count, total)
        return count
    }
}
