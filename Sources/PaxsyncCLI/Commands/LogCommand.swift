import ArgumentParser
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Inspect, verify, export and import the signed change log.",
        subcommands: [List.self, Show.self, Verify.self, Export.self, Import.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List log entries in the order this node applied them.",
            discussion: """
                Examples:
                  paxsync log list --origin JP --since 2026-11-01
                  paxsync log list --table shipments --key AU-SHP-0001 --json
                """)
        @OptionGroup var node: NodeOptions
        @Option(help: "Only entries of this origin.") var origin: String?
        @Option(help: "Only entries stamped at or after this date/time (UTC).") var since: String?
        @Option(help: "Only entries stamped at or before this date/time (UTC).") var until: String?
        @Option(help: "Only entries changing this table.") var table: String?
        @Option(help: "With --table: only entries changing this record key.") var key: String?
        @Option(help: "At most this many entries.") var limit: Int?
        @OptionGroup var json: JSONFlag

        func run() throws {
            if key != nil && table == nil { throw ValidationError("--key needs --table") }
            if let table, Schema.table(named: table) == nil { throw ValidationError("unknown table \(table)") }
            let filter = LogFilter(origin: origin, since: try since.map { try parseTime($0, option: "--since") },
                                   until: try until.map { try parseTime($0, option: "--until") }, table: table, key: key, limit: limit)
            let entries = try node.replica().logEntries(filter)
            if json.enabled { Output.json(entries); return }
            Output.table(["#", "entry", "time (HLC)", "changes", "hash", "note"],
                         entries.map { e in
                             // An entry a decision cut or superseded (§3.5) is marked; `--json` gives the reason.
                             let mark = e.cut.map { $0.hasPrefix("superseded") ? "[superseded] " : "[cut] " } ?? ""
                             return [String(e.position), e.entry, e.time, String(e.changes), String(e.hash.prefix(16)), mark + e.note]
                         })
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one entry decoded, with its signature status.",
            discussion: "Example:\n  paxsync log show AU:3")
        @OptionGroup var node: NodeOptions
        @Argument(help: "ORIGIN:SEQ, like AU:3.") var entry: String
        @OptionGroup var json: JSONFlag

        func run() throws {
            guard let id = EntryID(entry) else { throw ValidationError("expected ORIGIN:SEQ, like AU:3; got \(entry)") }
            let replica = try node.replica()
            guard let (signed, position) = try replica.logEntry(id) else {
                throw PaxsyncError(.notFound, "no such entry in this node's log", subject: id.description)
            }
            let view = EntryView(signed, position: position, signatureValid: replica.signatureIsValid(signed))
            if json.enabled { Output.json(view); return }
            print(view.text)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every signature and chain link of every origin.",
            discussion: """
                Exits 1 and names the first bad entry on failure. On a node, also checks
                that the log ends at the chain heads the replica records (entries deleted
                from the log's tail are found); --deep also replays the log into a scratch
                replica and compares its digest and conflicts with the live tables (so
                records whose entries were removed are found). With --bundle, checks a
                bundle file and that it holds exactly the entries its header announces.
                A bundle carries its members' public keys unsigned: verified against them
                it proves only that it is internally consistent. To make it evidence of
                who wrote what, give the keys you trust: the coalition's roster.json
                (--trust-roster) or each member's key fingerprint obtained out of band
                (--trust-fingerprint; `paxsync roster show` prints them). Names and
                addresses in a bundle's header are not signed and prove nothing.
                Examples:
                  paxsync log verify --data-dir au
                  paxsync log verify --data-dir au --deep
                  paxsync log verify --bundle audit.pxb --trust-roster coalition-roster.json
                  paxsync log verify --bundle audit.pxb --trust-fingerprint AU:3f2a… --trust-fingerprint JP:91c0…
                """)
        @OptionGroup var node: NodeOptions
        @Option(help: ArgumentHelp("Verify this bundle file instead of a node's log.", valueName: "FILE")) var bundle: String?
        @Option(help: ArgumentHelp("With --bundle: check signatures against this roster's keys, not the bundle's own.", valueName: "ROSTER.json"))
        var trustRoster: String?
        @Option(help: ArgumentHelp("With --bundle: trust the bundle's key for ID only if its SHA-256 is HEX (repeat per member).",
                                   valueName: "ID:HEX"))
        var trustFingerprint: [String] = []
        @Flag(help: "Also replay the log and compare the state digest and the conflicts with the live tables.") var deep = false
        @Flag(help: "No progress output.") var quiet = false
        @OptionGroup var json: JSONFlag

        func validate() throws {
            if bundle != nil && deep { throw ValidationError("--deep compares with a node's live tables; a bundle has none (replay it instead)") }
            if bundle == nil && (trustRoster != nil || !trustFingerprint.isEmpty) {
                throw ValidationError("--trust-roster and --trust-fingerprint apply to --bundle; a node's log is checked against its own roster")
            }
            if trustRoster != nil && !trustFingerprint.isEmpty {
                throw ValidationError("give either --trust-roster or --trust-fingerprint, not both")
            }
            for item in trustFingerprint {
                let parts = item.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, parts[1].count == 64, [UInt8](hex: String(parts[1])) != nil else {
                    throw ValidationError("--trust-fingerprint \(item): expected ID:HEX, the 64 hex digits of SHA-256 of the member's public key")
                }
            }
        }

        func run() throws {
            let source: LogSource = try bundle.map { .bundle(path: $0) } ?? .replica(node.replica())
            var trust = Replay.Trust.carried
            if let trustRoster {
                let roster = try InputFile.roster(trustRoster)
                try roster.validate(source: trustRoster)
                trust = .roster(roster, source: trustRoster)
            } else if !trustFingerprint.isEmpty {
                trust = .fingerprints(Dictionary(trustFingerprint.map { item in
                    let parts = item.split(separator: ":", maxSplits: 1)
                    return (String(parts[0]), String(parts[1]))
                }, uniquingKeysWith: { _, last in last }))
            }
            let progress = Progress("verifying", unit: "entries", enabled: !quiet && !json.enabled)
            let report = try Replay.verify(source, trusting: trust, progress: progress.update)
            progress.finish()
            var deepCheck: Replay.DeepCheck?
            if deep, report.ok, case .replica(let replica) = source {
                let replaying = Progress("replaying", unit: "entries", enabled: !quiet && !json.enabled)
                deepCheck = try Replay.deepCheck(replica, scratchDirectory: NSTemporaryDirectory(), progress: replaying.update)
                replaying.finish()
            }
            if json.enabled {
                Output.json(VerifyReport(report: report, deep: deepCheck))
            } else {
                if let error = report.firstError {
                    print("FAILED after \(report.entries) good entries: \(error)")
                } else {
                    let origins = report.origins.sorted { $0.key < $1.key }.map { "\($0.key):1…\($0.value)" }.joined(separator: ", ")
                    print("OK: \(report.entries) entries, every signature and chain link verified (\(origins.isEmpty ? "empty log" : origins))")
                }
                print("Keys trusted: \(report.trust)")
                for (id, fingerprint) in report.trustedKeys.sorted(by: { $0.key < $1.key }) { print("  \(id)  \(fingerprint)") }
                if !report.decisions.isEmpty {
                    print("Governance decisions in the log (proposals and approvals, §3.5):")
                    for decision in report.decisions { print("  \(decision)") }
                }
                if !report.rotations.isEmpty {
                    print("Key rotations in the log (each signed with the key it replaces):")
                    for rotation in report.rotations { print("  \(rotation)") }
                }
                if !report.superseded.isEmpty {
                    print("Entries of superseded branches, kept as evidence (§3.5):")
                    for line in report.superseded { print("  \(line)") }
                }
                if bundle != nil { print("Member names and addresses in the bundle's header are not signed and are not evidence.") }
                if let deepCheck {
                    print(deepCheck.liveDigest == deepCheck.replayedDigest
                          ? "Deep: the replayed log gives the live digest \(deepCheck.liveDigest)"
                          : "Deep: FAILED: the replayed log gives digest \(deepCheck.replayedDigest), the live tables \(deepCheck.liveDigest): records were changed outside the log")
                    print(deepCheck.conflictsMatch && deepCheck.liveConflicts == deepCheck.replayedConflicts
                          ? "Deep: the replayed log gives the same \(deepCheck.liveConflicts) conflicts"
                          : "Deep: FAILED: the replayed log gives \(deepCheck.replayedConflicts) conflicts, the live table holds \(deepCheck.liveConflicts) (or different ones)")
                }
            }
            if !report.ok || deepCheck?.ok == false { throw ExitCode(1) }
        }
    }

    /// `log verify --json`: the verification, and the deep check when asked.
    struct VerifyReport: Encodable {
        let report: LogVerifier.Report
        let deep: Replay.DeepCheck?

        func encode(to encoder: any Encoder) throws {
            try report.encode(to: encoder)
            if let deep {
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(deep, forKey: .deep)
            }
        }

        enum Key: String, CodingKey { case deep }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the whole log, the roster's public keys and the coalition's genesis to a portable bundle.",
            discussion: "Example:\n  paxsync log export --out audit-2026-11.pxb")
        @OptionGroup var node: NodeOptions
        @Option(help: ArgumentHelp("Bundle file to write.", valueName: "FILE")) var out: String
        @Flag(help: "No progress output.") var quiet = false

        func run() throws {
            let replica = try node.replica()
            let genesis = try node.directory().loadGenesis()
            let progress = Progress("exporting", unit: "entries", enabled: !quiet)
            let count = try Replay.exportBundle(replica, to: out, now: SystemClock().nowMilliseconds(), genesis: genesis,
                                                progress: progress.update)
            progress.finish()
            print("Exported \(count) entries of \(replica.nodeID)'s log to \(out)"
                  + (genesis.map { ", with the genesis of coalition \($0.coalitionID)" } ?? ""))
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the entries of a bundle from another node (exchange without a network).",
            discussion: """
                Every entry goes through the same checks as entries from peers: already
                known ones are skipped, bad ones quarantined, early ones held.
                Example:
                  paxsync log import --data-dir jp au-log.pxb
                """)
        @OptionGroup var node: NodeOptions
        @Argument(help: ArgumentHelp("Bundle file.", valueName: "FILE")) var bundle: String
        @Flag(help: "No progress output.") var quiet = false
        @OptionGroup var json: JSONFlag

        func run() throws {
            let replica = try node.replica(writable: true)
            let progress = Progress("importing", unit: "entries", enabled: !quiet && !json.enabled)
            let summary = try replica.importBundle(at: bundle, progress: progress.update)
            node.wakeDaemon()
            progress.finish()
            if json.enabled { Output.json(summary); return }
            print("From \(bundle): " + summary.namedCounts.map { "\($0.count) \($0.name)" }.joined(separator: ", "))
        }
    }
}

/// An entry decoded for people and scripts.
struct EntryView: Codable {
    struct Change: Codable {
        let op: String
        let table: String
        let key: String
        let fields: [String: String?]
        let replaced: [String: String]
    }
    let entry: String
    let position: Int64
    let time: String
    let hlc: String
    let hash: String
    let prevHash: String
    let signature: String
    let signatureValid: Bool
    let schemaVersion: UInt32
    let deps: [String: UInt64]
    let note: String
    let changes: [Change]

    init(_ e: SignedEntry, position: Int64, signatureValid: Bool) {
        let cs = e.changeSet
        entry = cs.id.description
        self.position = position
        time = cs.hlc.iso8601
        hlc = cs.hlc.description
        hash = e.hash.hex
        prevHash = cs.prevHash.hex
        signature = e.signature.hex
        self.signatureValid = signatureValid
        schemaVersion = cs.schemaVersion
        deps = cs.deps
        note = cs.note
        changes = cs.changes.map { c in
            var replaced = Dictionary(uniqueKeysWithValues: c.fields.compactMap { f in f.replaced.map { (f.name, $0.description) } })
            if let r = c.replaced { replaced["(record)"] = r.description }
            return Change(op: c.op.rawValue, table: c.table, key: c.key,
                          fields: Dictionary(uniqueKeysWithValues: c.fields.map { ($0.name, $0.value.isNull ? nil : $0.value.description) }),
                          replaced: replaced)
        }
    }

    var text: String {
        var lines = [
            "entry      \(entry)   (log position \(position))",
            "time       \(time)   (HLC \(hlc))",
            "signature  \(signatureValid ? "valid" : "INVALID") (\(signature.prefix(32))…)",
            "hash       \(hash)",
            "prev hash  \(prevHash.isEmpty ? "(first entry)" : prevHash)",
            "schema     v\(schemaVersion)",
            "deps       \(deps.isEmpty ? "(none)" : deps.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))",
        ]
        if !note.isEmpty { lines.append("note       \(note)") }
        lines.append("changes    \(changes.count)")
        for c in changes.prefix(50) {
            lines.append("  \(c.op) \(c.table) \(c.key)")
            for (name, value) in c.fields.sorted(by: { $0.key < $1.key }) {
                lines.append("      \(name) = \(value ?? "NULL")" + (c.replaced[name].map { "   (replaces \($0))" } ?? ""))
            }
        }
        if changes.count > 50 { lines.append("  … \(changes.count - 50) more (use --json)") }
        return lines.joined(separator: "\n")
    }
}
