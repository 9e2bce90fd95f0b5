import ArgumentParser
import Foundation
import PaxsyncModel
import PaxsyncStore

struct FeedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "Stream every applied change in log order, resumable: to pipe the shared records into your own systems.",
        discussion: """
            One line per row change, in the order this node applied the entries
            (local and from peers), each with the entry's log POSITION, the entry
            (ORIGIN:SEQ), the table, key, op, the fields it wrote, and the record's
            merged row as read now (null once deleted). With --json each line is
            one JSON object (NDJSON). Resume with --since the position of the last
            line you handled whose "last" is true (the entry's final change); the
            changes of entries after it follow. --follow keeps streaming as new
            entries are applied. Reads the replica only; works with or without the
            daemon.
            Deploy/mirror/paxsync-postgres-mirror.sh mirrors the records into
            PostgreSQL with it (README, "Mirroring into PostgreSQL").
            Examples:
              paxsync feed --data-dir au --json | head
              paxsync feed --data-dir au --json --since 1200 --follow | your-consumer
            """)
    @OptionGroup var node: NodeOptions
    @Option(help: ArgumentHelp("Start after this log position (0: from the first entry).", valueName: "POSITION"))
    var since: Int64 = 0
    @Flag(help: "Keep streaming new entries as they are applied, until interrupted.") var follow = false
    @Option(help: ArgumentHelp("Stop after this many entries (all their changes are written).", valueName: "N"))
    var limit: Int?
    @Option(help: "Seconds between looks at the log with --follow.") var interval: Double = 0.2
    @OptionGroup var json: JSONFlag

    func validate() throws {
        if since < 0 { throw ValidationError("--since must be a log position, 0 or more") }
        if let limit, limit < 1 { throw ValidationError("--limit must be 1 or more") }
        if interval < 0.01 { throw ValidationError("--interval must be at least 0.01 seconds") }
    }

    func run() throws {
        let replica = try node.replica(writable: false)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var position = since
        var left = limit ?? .max
        while left > 0 {
            let changes = try replica.feed(after: position, limit: min(left, 500))
            if changes.isEmpty {
                guard follow else { break }
                Thread.sleep(forTimeInterval: interval)
                continue
            }
            var out = Data()
            for change in changes {
                if json.enabled {
                    out += try encoder.encode(change)
                    out.append(UInt8(ascii: "\n"))
                } else {
                    out += Data((Self.line(change) + "\n").utf8)
                }
            }
            FileHandle.standardOutput.write(out)
            left -= Set(changes.map(\.position)).count
            position = changes.last!.position
        }
    }

    /// `1203  AU:57  update shipments AU-SHP-0001  status=in_transit eta=2026-12-18T00:00:00Z`
    static func line(_ change: FeedChange) -> String {
        let fields = change.fields.keys.sorted().map { name in
            let value = change.fields[name]!
            return "\(name)=" + (value.isNull ? "null" : "\(value)")
        }.joined(separator: " ")
        return "\(change.position)  \(change.entry)  \(change.op) \(change.table) \(change.key)" + (fields.isEmpty ? "" : "  \(fields)")
    }
}
