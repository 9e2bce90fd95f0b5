import ArgumentParser
import Foundation
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

struct CoalitionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coalition",
        abstract: "Found a coalition by a genesis document every founder signs; its SHA-256 is the coalition id.",
        discussion: """
            The genesis lists the founders (id, country, name, signing key, TLS pin, address)
            and the quorum rule. Every founder signs it; each node then adopts it, which pins
            the coalition id in paxsync.conf: the node states it in its hello and refuses
            peers that state another coalition, or none. A node set up from a roster alone
            migrates the same way: no entry is re-signed or lost.
            Example, with AU's roster listing every founder:
              paxsync coalition init --data-dir au --out genesis.json
              paxsync coalition sign --data-dir au genesis.json     # then JP, KR, ... in turn
              paxsync coalition adopt --data-dir au genesis.json    # on every founder's node
            """,
        subcommands: [Init.self, Sign.self, Show.self, Adopt.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an unsigned genesis naming the roster's members as founders.",
            discussion: """
                The founders are the members of this node's roster (or of --roster FILE), with
                their keys, addresses and TLS pins. The quorum is a fraction of the active
                members that approvals must exceed: 1/2 (the default) is "more than half".
                Example:
                  paxsync coalition init --data-dir au --out genesis.json --quorum 2/3
                """)
        @OptionGroup var node: NodeOptions
        @Option(help: ArgumentHelp("Founders from this roster file instead of this node's roster.", valueName: "FILE"))
        var roster: String?
        @Option(help: ArgumentHelp("The file to write; never overwritten.", valueName: "FILE")) var out: String
        @Option(help: "The coalition's name (default: the roster's).") var name: String?
        @Option(help: ArgumentHelp("Approvals must exceed this fraction of the active members.", valueName: "N/D"))
        var quorum = "1/2"

        func run() throws {
            var founders: Roster
            if let roster {
                founders = try InputFile.roster(roster)
            } else {
                founders = try node.directory().loadRoster()
            }
            if let name { founders.coalition = name }
            let parts = quorum.split(separator: "/")
            guard parts.count == 2, let numerator = UInt32(parts[0]), let denominator = UInt32(parts[1]) else {
                throw PaxsyncError(.usage, "--quorum is a fraction N/D, like 1/2", subject: quorum)
            }
            guard !FileManager.default.fileExists(atPath: out) else {
                throw PaxsyncError(.usage, "already exists; refusing to overwrite a genesis", subject: out)
            }
            let genesis = try Genesis.create(roster: founders, createdAtMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000),
                                             quorum: .init(numerator: numerator, denominator: denominator), source: out)
            try FileWriter.write(out, String(decoding: genesis.encoded(), as: UTF8.self), mode: 0o644)
            print("Wrote \(out): coalition \(genesis.coalitionID)")
            print("Founders: \(genesis.roster.members.map(\.id).joined(separator: ", ")); quorum: \(genesis.quorum.description)")
            print("Each founder now runs: paxsync coalition sign --data-dir DIR \(out)")
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a genesis as this node's member, in place.",
            discussion: """
                Checks the document lists this node with its key and every signature already
                there, then adds this node's. Pass the file to the next founder.
                Example:
                  paxsync coalition sign --data-dir jp genesis.json
                """)
        @OptionGroup var node: NodeOptions
        @Argument(help: ArgumentHelp("The genesis file.", valueName: "FILE")) var file: String

        func run() throws {
            let dir = try node.directory()
            var genesis = try InputFile.genesis(file)
            try genesis.sign(as: dir.configuration.nodeID, key: dir.loadKey(), source: file)
            try FileWriter.write(file, String(decoding: genesis.encoded(), as: UTF8.self), mode: 0o644)
            print("Signed coalition \(genesis.coalitionID) as \(dir.configuration.nodeID)")
            print(genesis.isComplete ? "Every founder has signed: each node runs `paxsync coalition adopt \(file)`"
                                     : "Still to sign: \(genesis.unsigned.joined(separator: ", "))")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a genesis (a file, or this node's): coalition id, founders, quorum, signatures.",
            discussion: """
                Examples:
                  paxsync coalition show genesis.json
                  paxsync coalition show --data-dir au --json
                """)
        @OptionGroup var node: NodeOptions
        @Argument(help: ArgumentHelp("The genesis file (default: this node's).", valueName: "FILE")) var file: String?
        @OptionGroup var json: JSONFlag

        struct Report: Encodable {
            let coalitionId: String
            let coalition: String
            let createdAt: String
            let quorum: Genesis.Quorum
            let founders: [RosterMember]
            let signed: [String]
            let unsigned: [String]
        }

        func run() throws {
            let genesis: Genesis
            if let file {
                genesis = try InputFile.genesis(file)
            } else {
                let dir = try node.directory()
                guard let own = try dir.loadGenesis() else {
                    throw PaxsyncError(.notFound, "this node has no genesis (coalition_id is empty); see `paxsync coalition adopt`",
                                       subject: dir.path)
                }
                genesis = own
            }
            let signed = genesis.roster.members.map(\.id).filter { !genesis.unsigned.contains($0) }
            if json.enabled {
                Output.json(Report(coalitionId: genesis.coalitionID, coalition: genesis.roster.coalition,
                                   createdAt: CivilTime.iso8601(milliseconds: genesis.createdAtMilliseconds), quorum: genesis.quorum,
                                   founders: genesis.roster.members, signed: signed, unsigned: genesis.unsigned))
                return
            }
            print("coalition \(genesis.coalitionID)  \(genesis.roster.coalition)")
            print("created \(CivilTime.iso8601(milliseconds: genesis.createdAtMilliseconds)); quorum: \(genesis.quorum.description)")
            Output.table(["founder", "country", "name", "address", "signed", "TLS pin"], genesis.roster.members.map { m in
                [m.id, m.country, m.name, m.address, genesis.unsigned.contains(m.id) ? "no" : "yes", m.tlsPin ?? "none (CA)"]
            })
            print("\nSigning-key fingerprints (compare them out of band):")
            for member in genesis.roster.members { print("  \(member.id)  \(member.keyFingerprint)") }
        }
    }

    struct Adopt: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make this node a node of the coalition a signed genesis founds (also: migrate a roster-only node).",
            discussion: """
                The genesis must be signed by every founder and list this node with its key, and
                every member of this node's roster must be a founder with the same key (so every
                entry in the log still verifies). Keeps the genesis in the data directory, adds the
                founders the roster lacks, and pins coalition_id in paxsync.conf. Restart the
                daemon: from then on it refuses peers of another coalition, or of none.
                Example:
                  paxsync coalition adopt --data-dir au genesis.json
                """)
        @OptionGroup var node: NodeOptions
        @Argument(help: ArgumentHelp("The signed genesis file.", valueName: "FILE")) var file: String

        func run() throws {
            let dir = try node.directory()
            let adopted = try dir.adopt(InputFile.genesis(file), source: file)
            print("\(adopted.configuration.nodeID) belongs to coalition \(adopted.configuration.coalitionID)")
            print("coalition_id is pinned in \(adopted.file(NodeDirectory.configFile)); restart the daemon to use it")
        }
    }
}
