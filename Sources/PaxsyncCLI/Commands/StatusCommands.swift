import ArgumentParser
import Foundation
import PaxsyncDaemon
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore

/// Reads a node's status: from its daemon's admin socket when it runs, else from the replica.
struct StatusSource {
    let directory: NodeDirectory

    var socketPath: String { directory.file(directory.configuration.adminSocket) }

    /// The status, and why the daemon could not be asked when it could not.
    func read() throws -> (NodeStatus, daemonProblem: String?) {
        do {
            let bytes = try AdminClient.request(socketPath, AdminClient.status)
            do {
                return (try JSONDecoder().decode(NodeStatus.self, from: Data(bytes)), nil)
            } catch {
                throw PaxsyncError(.badInput, "the daemon's answer is not a status document: \(String(decoding: bytes.prefix(200), as: UTF8.self))",
                                   subject: socketPath)
            }
        } catch let failure as AdminClient.Failure {
            if case .permissionDenied = failure { throw PaxsyncError(.permission, failure.description, subject: directory.configuration.nodeID) }
            let replica = try directory.openReplica(writable: false)
            let status = try NodeStatus.build(replica: replica, version: PaxsyncCommand.version, daemon: nil)
            return (status, failure.description)
        }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what a node is doing: peers, lag per origin, held and quarantined entries, conflicts.",
        discussion: """
            Asks the running daemon through its admin socket (DATA-DIR/admin.sock,
            owner only). When the daemon is not running, says so and shows what the
            replica holds. Lag: for each origin, the highest sequence held here
            against the highest any connected peer has announced.
            Examples:
              paxsync status --data-dir au
              paxsync status --data-dir au --watch
              paxsync status --data-dir au --verbose   # peers' recent errors, with times
              paxsync status --data-dir au --json | jq '.origins[] | select(.lagEntries > 0)'
              paxsync status --data-dir au --require-daemon --json >/dev/null   # health check: exit 69 when down
            """)
    @OptionGroup var node: NodeOptions
    @OptionGroup var json: JSONFlag
    @Flag(help: "Refresh in place every --interval seconds until Ctrl-C.") var watch = false
    @Flag(help: "Exit with status 69 (unavailable) when no daemon answers, after printing what the replica holds: for health checks.")
    var requireDaemon = false
    @Option(help: "Seconds between refreshes with --watch.") var interval: Double = 1
    @Flag(help: "Also list each peer's recent errors with their times (the table shows only the last, while it matters).")
    var verbose = false

    func validate() throws {
        if watch && json.enabled { throw ValidationError("--watch redraws a table; use --json without --watch for scripts") }
        if watch && requireDaemon { throw ValidationError("--require-daemon is for one-shot health checks; drop --watch") }
        if interval < 0.1 { throw ValidationError("--interval must be at least 0.1 seconds") }
    }

    func run() throws {
        let source = StatusSource(directory: try node.directory())
        repeat {
            let (status, problem) = try source.read()
            let down = requireDaemon && !status.daemonRunning
                ? PaxsyncError(.unavailable, "no daemon answers on the admin socket\(problem.map { ": \($0)" } ?? "")", subject: "node \(status.node)")
                : nil
            if json.enabled {
                Output.json(status)
                if let down { throw down }
                return
            }
            var text = StatusView.render(status, daemonProblem: problem, verbose: verbose)
            if watch {
                text = "\u{1B}[H\u{1B}[2J" + text + "\n(refreshing every \(interval) s; Ctrl-C to stop)\n"
            }
            FileHandle.standardOutput.write(Data(text.utf8))
            if let down { throw down }
            if watch { Thread.sleep(forTimeInterval: interval) }
        } while watch
    }
}

struct PeersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers",
        abstract: "Show the node's peers: connected or not, since when, traffic, last error.",
        discussion: """
            The peer part of `paxsync status`, from the running daemon.
            Examples:
              paxsync peers --data-dir au
              paxsync peers --data-dir au --verbose     # each peer's recent errors, with times
              paxsync peers --data-dir au --json
            """)
    @OptionGroup var node: NodeOptions
    @OptionGroup var json: JSONFlag
    @Flag(help: "Also list each peer's recent errors with their times.") var verbose = false

    func run() throws {
        let (status, problem) = try StatusSource(directory: try node.directory()).read()
        if json.enabled {
            Output.json(status.peers)
            return
        }
        if let problem {
            print("node \(status.node): \(problem)")
            return
        }
        print(StatusView.peers(status, verbose: verbose), terminator: "")
    }
}

/// The status as text tables.
enum StatusView {
    static func render(_ s: NodeStatus, daemonProblem: String?, verbose: Bool = false) -> String {
        var out = ""
        if let daemonProblem {
            out += "node \(s.node)  daemon NOT RUNNING  (\(daemonProblem))\n"
            out += "showing what the replica holds; peers and lag need the daemon (`paxsync serve`)\n"
        } else {
            out += "node \(s.node)  paxsync \(s.version)  up \(duration(s.uptimeSeconds ?? 0)) since \(s.startedAt ?? "?")  listening \(s.listen ?? "?")\n"
        }
        out += "roster: " + s.roster.map { "\($0.id) (\($0.name))" }.joined(separator: ", ") + "\n"
        out += "log: \(s.logEntries) entries  replica: \(bytes(s.replicaBytes))  open conflicts: \(s.openConflicts)\n"
        if let paused = s.localWritesPaused { out += "local writes PAUSED: \(paused)\n" }
        if daemonProblem == nil {
            out += "\n" + peers(s, verbose: verbose)
        }
        out += "\n" + Output.render(["ORIGIN", "HELD", "KNOWN", "LAG", "LAG TIME", "LAST ENTRY", "STATE"], s.origins.map { o in
            [o.origin, "\(o.heldSeq)", "\(o.knownSeq)", "\(o.lagEntries)", o.lagSeconds.map(duration) ?? "-", o.lastEntryAt ?? "-",
             o.state + (o.reason.map { ": \($0)" } ?? "")]
        })
        for o in s.origins { if let release = o.release { out += "release \(o.origin): \(release)\n" } }
        if let pending = s.pendingProposals, !pending.isEmpty {
            out += "\npending proposals (`paxsync proposals`; approve with `paxsync member approve PROPOSAL`):\n"
            out += Output.render(["PROPOSAL", "DECISION", "APPROVALS", "MISSING"], pending.map {
                [$0.proposal, $0.decision, "\($0.approvals.count)/\($0.needed): \($0.approvals.joined(separator: ","))", $0.missing.joined(separator: ",")]
            })
        }
        if !s.held.isEmpty {
            out += "\nheld entries (released automatically when their cause clears):\n"
            out += Output.render(["ENTRY", "CODE", "REASON"], s.held.prefix(20).map { [$0.entry, $0.code.rawValue, $0.reason] })
            if s.held.count > 20 { out += "… and \(s.held.count - 20) more (paxsync status --json)\n" }
        }
        if !s.quarantined.isEmpty {
            out += "\nquarantined entries (rejected whole, kept as evidence; see `paxsync quarantine`):\n"
            out += Output.render(["ENTRY", "CODE", "REASON"], s.quarantined.suffix(20).map { [$0.entry ?? "(undecodable)", $0.code, $0.reason] })
        }
        if let refused = s.refusedCertificates, !refused.isEmpty {
            out += "\nrefused TLS certificates (latest \(refused.count), oldest first):\n"
            let now = instant(s.generatedAt) ?? Date()
            for r in refused {
                let ago = instant(r.at).map { duration(max(0, now.timeIntervalSince($0))) } ?? "?"
                out += "  \(r.at) (\(ago) ago)  \(r.message)\n"
            }
        }
        if !s.equivocations.isEmpty {
            out += "\nEQUIVOCATION: these members signed two different entries with the same sequence:\n"
            out += Output.render(["ENTRY", "HASH A", "HASH B", "DETECTED", "RESOLVED BY"], s.equivocations.map {
                [$0.entry, String($0.hashA.prefix(16)), String($0.hashB.prefix(16)), $0.detectedAt, $0.resolvedBy ?? "-"] })
        }
        return out
    }

    /// The widest a status line is drawn: the peer table's last-error column is cut to fit.
    static let width = 120

    /// The peer table. Times are ages, measured from when the status was made.
    /// A peer's last error is shown with its age, and only while it may still
    /// matter: a peer connected since after the error shows none (`verbose`
    /// lists every peer's recent errors, with their times, below the table).
    static func peers(_ s: NodeStatus, verbose: Bool = false) -> String {
        guard !s.peers.isEmpty else { return "no peers configured\n" }
        let now = instant(s.generatedAt) ?? Date()
        func age(_ iso: String?) -> String? { iso.flatMap(instant).map { duration(max(0, now.timeIntervalSince($0))) } }
        let rows = s.peers.map { p -> [String] in
            let since = instant(p.since)
            let errorAt = instant(p.lastErrorAt)
            let stale = p.connected && errorAt != nil && since != nil && errorAt! <= since!
            let error = (p.lastError.flatMap { stale ? nil : $0 }).map { message in
                (age(p.lastErrorAt).map { "\($0) ago: " } ?? "") + message.replacingOccurrences(of: "\n", with: " ")
            }
            return [p.id, p.address, p.connected ? "connected" : "down", since == nil ? "never up" : age(p.since) ?? "-",
                    age(p.lastContact).map { "\($0) ago" } ?? "-", p.behindEntries == 0 ? "0" : "\(p.behindEntries)",
                    "\(p.entriesIn) / \(bytes(p.bytesIn))", "\(p.entriesOut) / \(bytes(p.bytesOut))", error ?? "-"]
        }
        let header = ["PEER", "ADDRESS", "STATE", "FOR", "LAST CONTACT", "BEHIND", "IN", "OUT", "LAST ERROR"]
        // Every column but the last at its natural width; the last error cut to fit.
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        let room = max(20, width - widths.dropLast().reduce(0) { $0 + $1 + 2 })
        let fitted = rows.map { row in Array(row.dropLast()) + [row.last!.count > room ? String(row.last!.prefix(room - 1)) + "…" : row.last!] }
        var out = Output.render(header, fitted)
        if verbose {
            let history = s.peers.filter { !($0.recentErrors ?? []).isEmpty }
            out += history.isEmpty ? "\nno peer errors since the daemon started\n" : "\nrecent errors, oldest first:\n"
            for p in history {
                for e in p.recentErrors ?? [] { out += "  \(p.id)  \(e.at) (\(age(e.at) ?? "?") ago)  \(e.message)\n" }
            }
        }
        return out
    }

    static func instant(_ iso: String?) -> Date? {
        iso.flatMap(CivilTime.parseInstant).map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        if s < 86400 { return "\(s / 3600)h\((s % 3600) / 60)m" }
        return "\(s / 86400)d\((s % 86400) / 3600)h"
    }

    static func bytes(_ n: Int) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1 << 20 { return String(format: "%.1f KiB", Double(n) / 1024) }
        if n < 1 << 30 { return String(format: "%.1f MiB", Double(n) / 1_048_576) }
        return String(format: "%.2f GiB", Double(n) / 1_073_741_824)
    }
}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the replica to a file with SQLite's online backup, safely while the daemon runs.",
        discussion: """
            The copy is a consistent snapshot (records, log, merge metadata) and is
            checked with `PRAGMA integrity_check` and the log's signatures and chains
            before the command reports success. To restore: stop the daemon, run
            `paxsync restore --from FILE`, start the daemon; peers send whatever it
            missed since the backup. The copy pauses local writes until a peer
            confirms the node's head (see `paxsync restore --help`).
            Example:
              paxsync backup --data-dir au --out /backups/au-2026-11-29.sqlite
            """)
    @OptionGroup var node: NodeOptions
    @Option(help: ArgumentHelp("The backup file to create.", valueName: "FILE")) var out: String
    @OptionGroup var json: JSONFlag

    func run() throws {
        guard !FileManager.default.fileExists(atPath: out) else {
            throw PaxsyncError(.usage, "the backup file exists; refusing to overwrite it", subject: out)
        }
        let dir = try node.directory()
        let replica = try dir.openReplica(writable: false)
        let copying = Progress("backing up", unit: "pages", enabled: !json.enabled)
        try replica.backup(to: out, progress: copying.update)
        copying.finish()
        // Put in place by hand (or with `paxsync restore`), the copy pauses local
        // writes until a peer confirms the node's head: the node may have signed
        // entries after this copy was taken.
        try Replica(path: out, nodeID: replica.nodeID, roster: replica.roster)
            .pauseLocalWrites(reason: "a copy made by paxsync backup at \(Date().formatted(.iso8601))")
        let copy = try Replica(path: out, nodeID: replica.nodeID, roster: replica.roster,
                               configuration: ReplicaConfiguration(readOnly: true))
        let problems = try copy.integrityCheck()
        guard problems == ["ok"] else {
            throw PaxsyncError(.storage, "the backup fails integrity_check: \(problems.prefix(3).joined(separator: "; "))", subject: out)
        }
        let verifying = Progress("verifying the copy's log", unit: "entries", enabled: !json.enabled)
        let verification = try Replay.verify(.replica(copy), progress: verifying.update)
        verifying.finish()
        if let failure = verification.firstError {
            throw PaxsyncError(.badInput, "the backup's log does not verify: \(failure)", subject: out)
        }
        let digest = try copy.digest().hex
        if json.enabled {
            Output.json(["file": out, "node": replica.nodeID, "entries": "\(verification.entries)", "digest": digest])
        } else {
            print("Backed up \(replica.nodeID)'s replica to \(out): \(verification.entries) log entries verified, digest \(digest)")
        }
    }
}
