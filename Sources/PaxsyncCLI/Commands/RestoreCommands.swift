import ArgumentParser
import Foundation
import PaxsyncDaemon
import PaxsyncModel
import PaxsyncStore

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put a backup in place of the node's replica, with local writes paused until a peer confirms the node's head.",
        discussion: """
            The backup (from `paxsync backup`) is checked first — integrity_check, and
            every signature and chain of its log — and must belong to this node. The
            current replica is kept beside it as replica.sqlite.before-restore-TIME
            (with its -wal file), never deleted. Refused while a daemon runs on the
            data directory: stop it first (this command starts and stops nothing).

            A backup may lack entries this node signed after it was taken, which
            peers hold. So the restored replica pauses local writes: the daemon,
            once started, lifts the pause when a peer confirms it holds no entry of
            this node beyond the replica's head, or once those entries have come
            back from the peers. Until then writes are refused (exit 69), so the
            node never signs a second entry for a sequence number it already used.
            For a coalition of one: `paxsync writes resume --force`.
            Example:
              systemctl stop paxsync
              paxsync restore --data-dir /var/lib/paxsync --from /backups/au-2026-11-29.sqlite
              systemctl start paxsync
            """)
    @OptionGroup var node: NodeOptions
    @Option(help: ArgumentHelp("The backup file to restore.", valueName: "FILE")) var from: String
    @Flag(help: "No progress output.") var quiet = false
    @OptionGroup var json: JSONFlag

    func run() throws {
        let dir = try node.directory()
        // No daemon may run on the directory meanwhile, nor start until this is done.
        let lock = try ServeLock(directory: dir)
        defer { withExtendedLifetime(lock) {} }
        guard FileManager.default.fileExists(atPath: from) else {
            throw PaxsyncError(.notFound, "no backup file here", subject: from)
        }
        // The current replica may be missing or broken: that is when one restores.
        let id = dir.configuration.nodeID
        let roster = try dir.loadRoster()
        let replacedHead = (try? dir.openReplica(writable: false).versionVector()[id]).map { "\(id):\($0)" }
        let backup = try Replica(path: from, nodeID: id, roster: roster, configuration: ReplicaConfiguration(readOnly: true))
        let problems = try backup.integrityCheck()
        guard problems == ["ok"] else {
            throw PaxsyncError(.storage, "the backup fails integrity_check: \(problems.prefix(3).joined(separator: "; "))", subject: from)
        }
        let verifying = Progress("verifying the backup's log", unit: "entries", enabled: !quiet && !json.enabled)
        let verification = try Replay.verify(.replica(backup), progress: verifying.update)
        verifying.finish()
        if let failure = verification.firstError {
            throw PaxsyncError(.badInput, "the backup's log does not verify: \(failure)", subject: from)
        }
        let backupHead = try backup.versionVector()[id]

        // Copy beside the replica, pause its writes, then swap it in by renames.
        let target = dir.replicaPath
        let staged = target + ".restoring"
        try? FileManager.default.removeItem(atPath: staged)
        do {
            try FileManager.default.copyItem(atPath: from, toPath: staged)
        } catch {
            throw PaxsyncError(.storage, "cannot copy the backup beside the replica", subject: staged, underlying: error)
        }
        do {
            let restored = try Replica(path: staged, nodeID: id, roster: roster)
            try restored.resumeLocalWrites()
            try restored.pauseLocalWrites(reason: "restored from \((from as NSString).lastPathComponent)")
        }
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let kept = target + ".before-restore-" + stamp
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: target + suffix) {
            guard rename(target + suffix, kept + suffix) == 0 else {
                throw PaxsyncError(.storage, "cannot move the current replica aside", subject: target + suffix,
                                   cause: String(cString: strerror(errno)))
            }
        }
        try? FileManager.default.removeItem(atPath: target + "-shm")
        guard rename(staged, target) == 0 else {
            throw PaxsyncError(.storage, "cannot put the restored replica in place (the previous one is at \(kept))", subject: target,
                               cause: String(cString: strerror(errno)))
        }
        try? FileManager.default.removeItem(atPath: staged + "-wal")
        try? FileManager.default.removeItem(atPath: staged + "-shm")

        if json.enabled {
            Output.json(["node": id, "from": from, "entries": "\(verification.entries)", "head": "\(id):\(backupHead)",
                         "replaced_head": replacedHead ?? "unreadable", "previous_replica": kept, "local_writes": "paused"])
            return
        }
        print("""
            Restored \(id)'s replica from \(from): \(verification.entries) log entries verified, \(id)'s head \(id):\(backupHead) \
            (the replaced replica held \(replacedHead ?? "nothing readable"); it is kept at \(kept)).
            Local writes are paused until the daemon reaches a peer that confirms \(id)'s head, or \(id)'s later entries \
            come back from the peers: start the daemon (`paxsync serve`).
            """)
    }
}

struct WritesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "writes",
        abstract: "Whether local writes are paused (after a restore or a daemon start), and lifting the pause by hand.",
        subcommands: [Status.self, Resume.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say whether local writes are allowed, and if not, why and since when.",
            discussion: """
                Exit status 0 either way; `--json` for scripts.
                Example:
                  paxsync writes status --data-dir au
                """)
        @OptionGroup var node: NodeOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            let replica = try node.replica(writable: false)
            let pause = try replica.localWritePause()
            let head = try replica.versionVector()[replica.nodeID]
            let since = pause.map { Date(timeIntervalSince1970: Double($0.sinceMilliseconds) / 1000).formatted(.iso8601) }
            if json.enabled {
                Output.json(["node": replica.nodeID, "local_writes": pause == nil ? "allowed" : "paused", "reason": pause?.reason,
                             "since": since, "head": "\(replica.nodeID):\(head)",
                             "awaiting": pause?.awaitingSeq.map { "\(replica.nodeID):\($0)" }])
            } else if let pause, let since {
                let awaiting = pause.awaitingSeq.map { "; a peer holds \(replica.nodeID):\($0), waiting for it to come back" } ?? ""
                print("Local writes on \(replica.nodeID) are paused (\(pause.reason), since \(since)); head \(replica.nodeID):\(head)\(awaiting).")
            } else {
                print("Local writes on \(replica.nodeID) are allowed; head \(replica.nodeID):\(head).")
            }
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lift the pause without a peer's confirmation (a coalition of one; or no peer can hold a later entry).",
            discussion: """
                If a peer does hold an entry of this node beyond the replica's head,
                the next local write signs a second entry for that sequence number:
                an equivocation, which blocks this node's writes on every node until
                the coalition resolves it. The daemon lifts the pause by itself once a
                peer confirms the head; use this only when no peer can.
                Example:
                  paxsync writes resume --data-dir au --force
                """)
        @OptionGroup var node: NodeOptions
        @Flag(help: "Required: say you know no peer holds a later entry of this node.") var force = false
        @OptionGroup var json: JSONFlag

        func run() throws {
            guard force else {
                throw PaxsyncError(.usage, "lifting the pause by hand risks an equivocation; pass --force if no peer can hold a later entry of this node")
            }
            let dir = try node.directory()
            guard !dir.configuration.isStandby else {
                throw PaxsyncError(.usage, "this node is a standby (role = \"standby\"): it never writes; `paxsync promote` makes it the primary",
                                   subject: dir.configuration.nodeID)
            }
            let replica = try dir.openReplica(writable: true)
            let lifted = try replica.resumeLocalWrites()
            if json.enabled {
                Output.json(["node": replica.nodeID, "local_writes": "allowed", "lifted": lifted?.reason])
            } else {
                print(lifted.map { "Local writes on \(replica.nodeID) resumed (they were paused: \($0.reason))." }
                      ?? "Local writes on \(replica.nodeID) were not paused.")
            }
        }
    }
}

struct PromoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Make a standby node its member's primary (the primary being down for good).",
        discussion: """
            With the standby's daemon stopped: sets role = "primary" in its
            paxsync.conf and pauses local writes as after a restore, so they
            resume only once a peer confirms this member's head (or the entries
            the old primary got out before it failed have come back from the
            peers). Start the daemon afterwards. The old primary must never run
            as primary again: entries it signed but never sent are lost, and it
            would sign over the new primary's (an equivocation). Make it a
            standby (role = "standby", replica restored from the new primary's
            backup) or retire it.
            Example:
              systemctl stop paxsync            # on the standby
              paxsync promote --data-dir /var/lib/paxsync
              systemctl start paxsync
            """)
    @OptionGroup var node: NodeOptions
    @OptionGroup var json: JSONFlag

    func run() throws {
        let dir = try node.directory()
        let lock = try ServeLock(directory: dir)
        defer { withExtendedLifetime(lock) {} }
        let id = dir.configuration.nodeID
        guard dir.configuration.isStandby else {
            throw PaxsyncError(.usage, "this node is already a primary (role = \"\(dir.configuration.role)\")", subject: id)
        }
        let file = dir.file(NodeDirectory.configFile)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        var lines = text.components(separatedBy: "\n")
        guard let index = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("role") && $0.contains("standby") }) else {
            throw PaxsyncError(.usage, "the standby role is not set in paxsync.conf (PAXSYNC_ROLE?); set role = \"primary\" where it is set",
                               subject: file)
        }
        lines[index] = "role = \"primary\"   # promoted from standby \(Date().formatted(.iso8601))"
        let replica = try dir.openReplica(writable: true)
        try replica.promote(reason: "promoted from standby")
        let staged = file + ".promoting"
        try lines.joined(separator: "\n").write(toFile: staged, atomically: false, encoding: .utf8)
        guard rename(staged, file) == 0 else {
            throw PaxsyncError(.storage, "cannot write paxsync.conf", subject: file, cause: String(cString: strerror(errno)))
        }
        let head = try replica.versionVector()[id]
        if json.enabled {
            Output.json(["node": id, "role": "primary", "head": "\(id):\(head)", "local_writes": "paused"])
        } else {
            print("""
                \(id)'s standby is now its primary (paxsync.conf: role = "primary"); head \(id):\(head).
                Local writes are paused until the daemon reaches a peer that confirms \(id)'s head: start it (`paxsync serve`).
                Never start the old primary as primary again.
                """)
        }
    }
}
