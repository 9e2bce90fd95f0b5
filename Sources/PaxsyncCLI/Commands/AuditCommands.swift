import ArgumentParser
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Rebuild the shared state from the log alone into a new SQLite file.",
        discussion: """
            Reads a node's log (--data-dir) or a bundle (--bundle), applies every entry
            through the ordinary checks into a new replica, and prints its state
            digest. A full replay of a node's log reproduces the node's live digest.
            Examples:
              paxsync replay --data-dir au --into /tmp/rebuilt.sqlite
              paxsync replay --bundle audit.pxb --into /tmp/june.sqlite --until 2026-06-30T23:59:59Z
              paxsync replay --bundle audit.pxb --into /tmp/at.sqlite --until-entry JP:42
            """)
    @OptionGroup var node: NodeOptions
    @Option(help: ArgumentHelp("Replay this bundle instead of a node's log.", valueName: "FILE")) var bundle: String?
    @Option(help: ArgumentHelp("New replica file to create.", valueName: "NEW.sqlite")) var into: String
    @Option(help: "Only entries stamped at or before this UTC date/time.") var until: String?
    @Option(name: .customLong("until-entry"), help: "Stop after this entry (ORIGIN:SEQ) in log order.") var untilEntry: String?
    @Flag(help: "No progress output.") var quiet = false
    @OptionGroup var json: JSONFlag

    func validate() throws {
        if until != nil && untilEntry != nil { throw ValidationError("give at most one of --until and --until-entry") }
    }

    func run() throws {
        var limit = ReplayLimit.none
        if let until { limit = .time(try parseTime(until, option: "--until")) }
        if let untilEntry {
            guard let id = EntryID(untilEntry) else { throw ValidationError("--until-entry expects ORIGIN:SEQ, like JP:42") }
            limit = .entry(id)
        }
        let live: Replica? = bundle == nil ? try node.replica() : nil
        let source: LogSource = live.map { .replica($0) } ?? .bundle(path: bundle!)
        let progress = Progress("replaying", unit: "entries", enabled: !quiet && !json.enabled)
        let result = try Replay.run(from: source, into: into, until: limit, progress: progress.update)
        progress.finish()
        var liveDigest: String?
        if let live, case .none = limit { liveDigest = try live.digest().hex }
        if json.enabled {
            Output.json(ReplayReport(into: into, applied: result.applied, skipped: result.skipped, digest: result.digest,
                                     rows: result.rows, liveDigest: liveDigest, matchesLive: liveDigest.map { $0 == result.digest }))
            return
        }
        print("Replayed \(result.applied) entries into \(into) (\(result.skipped) after the limit skipped)")
        print("digest \(result.digest)  (\(result.rows) rows)")
        if let liveDigest {
            print(liveDigest == result.digest ? "matches the live replica's digest" : "DIFFERS from the live digest \(liveDigest)")
            if liveDigest != result.digest { throw ExitCode(1) }
        }
    }

    struct ReplayReport: Codable {
        let into: String
        let applied: Int
        let skipped: Int
        let digest: String
        let rows: Int
        let liveDigest: String?
        let matchesLive: Bool?
    }
}

struct DigestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest",
        abstract: "Print the SHA-256 state digest of the shared records.",
        discussion: """
            Canonical order (PROTOCOL.md, "State digest"): equal states give equal
            digests on every node.
            Examples:
              paxsync digest --data-dir au
              paxsync digest --replica /tmp/rebuilt.sqlite
            """)
    @OptionGroup var node: NodeOptions
    @Option(help: ArgumentHelp("Digest this replica file instead of a node's.", valueName: "FILE")) var replica: String?
    @OptionGroup var json: JSONFlag

    func run() throws {
        let (hex, rows) = try replica.map { try Replica.digest(ofFile: $0) } ?? node.replica().digest()
        if json.enabled { Output.json(["digest": hex, "rows": String(rows)]) } else { print("\(hex)  (\(rows) rows)") }
    }
}

struct ConflictsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts",
        abstract: "List open conflicts: concurrent writes that lost, until a later write settles them.",
        discussion: "Example:\n  paxsync conflicts --table shipments --json")
    @OptionGroup var node: NodeOptions
    @Option(help: "Only this table.") var table: String?
    @OptionGroup var json: JSONFlag

    func run() throws {
        let conflicts = try node.replica().conflicts(table: table)
        if json.enabled { Output.json(conflicts); return }
        if conflicts.isEmpty { print("No open conflicts."); return }
        func show(_ s: Conflict.Side) -> String {
            s.deleted ? "(deleted)" : s.value.map { "\"\($0)\"" } ?? "NULL"
        }
        Output.table(["record", "field", "kept", "by", "lost", "by", "rule"], conflicts.map { c in
            ["\(c.table) \(c.key)", c.field, show(c.winner), c.winner.entry, show(c.loser), c.loser.entry, c.decision.rawValue]
        })
    }
}

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show, for each field of a record, which entry set its value and which rule decided it; or how a member joined.",
        discussion: """
            KEY is the record key; multi-part keys join with '/'. `explain member ID` shows the
            member's standing and the decisions about it: proposals, who approved, when.
            Examples:
              paxsync explain shipments AU-SHP-0001
              paxsync explain stocks AU-MTWELD/Nd/oxide
              paxsync explain member CA
            """)
    @OptionGroup var node: NodeOptions
    @Argument(help: "facilities, stocks, shipments, reserve_pledges, or member.") var table: String
    @Argument(help: "Record key, or member id.") var key: String
    @OptionGroup var json: JSONFlag

    struct FieldExplanation: Codable {
        let field: String
        let value: String?
        let entry: String
        let time: String
        let rule: String
        let writes: Int
    }
    struct Explanation: Codable {
        let table: String
        let key: String
        let state: String
        let createdBy: String?
        let deletedBy: String?
        let fields: [FieldExplanation]
        let conflicts: [Conflict]
        let history: [String]
    }

    struct MemberExplanation: Encodable {
        let member: String
        let status: String
        let founder: Bool
        let decisions: [ProposalView]
    }

    func run() throws {
        if table == "member" { try explainMember(); return }
        guard let table = TableSpec(argument: table) else {
            throw ValidationError("\"\(self.table)\" is not a table (\(TableSpec.allValueStrings.joined(separator: ", "))) nor member")
        }
        let (record, events) = try node.replica().explain(table: table, key: key)
        guard record.state != .absent || !events.isEmpty else {
            throw PaxsyncError(.notFound, "no such record in this replica", subject: "\(table.name) \(key)")
        }
        let fields = table.fields.compactMap { spec -> FieldExplanation? in
            guard let f = record.fields[spec.name] else { return nil }
            let writes = events.filter { $0.change.fields.contains { $0.name == spec.name } }.count
            return FieldExplanation(field: spec.name, value: f.value.isNull ? nil : f.value.description, entry: f.entry.description,
                                    time: f.stamp.hlc.iso8601, rule: f.decision.rawValue, writes: writes)
        }
        let history = events.map { "\($0.entry) \($0.change.op.rawValue) at \($0.stamp.hlc.iso8601)" + ($0.counts ? "" : " (cut by a decision: not merged)") }
        let explanation = Explanation(table: table.name, key: key, state: record.state.rawValue, createdBy: record.createdBy?.description,
                                      deletedBy: record.deletedBy?.description, fields: fields, conflicts: record.conflicts, history: history)
        if json.enabled { Output.json(explanation); return }
        print("\(table.name) \(key): \(record.state.rawValue)" + (record.createdBy.map { ", created by \($0)" } ?? "")
              + (record.deletedBy.map { ", deleted by \($0)" } ?? ""))
        Output.table(["field", "value", "set by", "at", "rule", "writes"],
                     fields.map { [$0.field, $0.value ?? "NULL", $0.entry, $0.time, $0.rule, String($0.writes)] })
        if !record.conflicts.isEmpty {
            print("open conflicts:")
            for c in record.conflicts {
                print("  \(c.field): kept \(c.winner.deleted ? "(deleted)" : c.winner.value ?? "NULL") from \(c.winner.entry), lost \(c.loser.value ?? "NULL") from \(c.loser.entry) [\(c.decision.rawValue)]")
            }
        }
        print("history: " + history.joined(separator: "; "))
    }

    func explainMember() throws {
        let governance = try node.replica().governance
        guard let member = governance.members[key] else {
            throw PaxsyncError(.notFound, "\(key) is not a member this node knows of (`paxsync member list`)", subject: key)
        }
        let decisions = governance.proposals.values.filter { $0.decision.member == key }.sorted { $0.stamp < $1.stamp }.map(ProposalView.init)
        let explanation = MemberExplanation(member: key, status: member.status.rawValue, founder: member.admittedBy == nil, decisions: decisions)
        if json.enabled { Output.json(explanation); return }
        print("\(key) (\(member.member.name), \(member.member.country)): \(member.status.rawValue)"
              + (member.admittedBy.map { ", admitted by proposal \($0)" } ?? ", a founder")
              + (member.cutSeq.map { "; entries after \(key):\($0) do not count" } ?? ""))
        for d in decisions {
            print("  \(d.proposal) \(d.decision) — \(d.state)" + (d.reason.isEmpty ? "" : " (\"\(d.reason)\")"))
            print("    approved by \(d.approvals.joined(separator: ", ")); \(d.needed) of \(d.active.count) active members needed"
                  + (d.refusal.map { "; refused: \($0)" } ?? ""))
        }
    }
}

struct QuarantineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract: "Show rejected entries, held entries, blocked origins and equivocations.",
        discussion: """
            Rejected entries are kept with their reason; an origin with a rejected entry
            has its later entries held behind it. --evidence writes both entries of every
            equivocation to a bundle for the coalition.
            Examples:
              paxsync quarantine
              paxsync quarantine --json
              paxsync quarantine --evidence forks.pxb
            """)
    @OptionGroup var node: NodeOptions
    @Option(help: ArgumentHelp("Write equivocation evidence to this bundle file.", valueName: "FILE")) var evidence: String?
    @OptionGroup var json: JSONFlag

    struct Report: Codable {
        let quarantined: [QuarantineItem]
        let held: [HeldItem]
        let blockedOrigins: [OriginState]
        let equivocations: [EquivocationItem]
    }

    func run() throws {
        let replica = try node.replica()
        if let evidence {
            let found = try replica.equivocationEvidence(exportedAt: SystemClock().nowMilliseconds())
            try BundleWriter.write(found.header, entries: found.entries, to: evidence)
            print("Wrote \(found.pairs.count) equivocation(s) (\(found.entries.count) entries) to \(evidence)")
            return
        }
        let report = Report(quarantined: try replica.quarantined(), held: try replica.held(),
                            blockedOrigins: try replica.origins().filter { $0.status != .ok }, equivocations: try replica.equivocations())
        if json.enabled { Output.json(report); return }
        print("quarantined entries: \(report.quarantined.count)")
        if !report.quarantined.isEmpty {
            Output.table(["entry", "code", "blocks origin", "received", "reason"],
                         report.quarantined.map { [$0.entry ?? "(undecodable)", $0.code, $0.blocksOrigin ? "yes" : "no", $0.receivedAt, $0.reason] })
        }
        print("held entries: \(report.held.count)")
        if !report.held.isEmpty { Output.table(["entry", "code", "reason"], report.held.map { [$0.entry, $0.code.rawValue, $0.reason] }) }
        print("blocked origins: \(report.blockedOrigins.count)")
        for o in report.blockedOrigins { print("  \(o.origin) (\(o.status.rawValue)): \(o.reason ?? "")") }
        print("equivocations: \(report.equivocations.count)")
        for e in report.equivocations {
            print("  \(e.entry): \(e.hashA.prefix(16))… vs \(e.hashB.prefix(16))… (detected \(e.detectedAt))\(e.resolvedBy.map { "; resolved by \($0)" } ?? "")")
        }
    }
}
