import Crypto
import ArgumentParser
import Foundation
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "Create and inspect a node's data directory.",
        subcommands: [Init.self, Show.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a node: signing key (mode 0600), commented config, roster and an empty replica.",
            discussion: """
                Prints the node's public key and its roster entry. Without --roster the
                roster lists this node alone; install the coalition's with `paxsync roster set`.
                With --genesis (a member joining a running coalition) the roster is the genesis's
                founders and this node, and paxsync.conf pins the coalition id; the node syncs once
                a quorum admits it (`paxsync member propose admit` on a member's node, with the
                public key and TLS pin printed here).

                Examples:
                  paxsync node init --node-id AU --data-dir /var/lib/paxsync --name Australia --address 10.0.0.5:7400
                  paxsync node init --node-id CA --data-dir /var/lib/paxsync --name Canada --address ca.example.org:7400 \\
                      --genesis genesis.json
                """)

        @Option(name: .customLong("node-id"), help: "This node's member id, like AU.") var nodeID: String
        @Option(name: .customLong("data-dir"), help: ArgumentHelp("Directory to create.", valueName: "DIR")) var dataDir: String
        @Option(help: "ISO 3166-1 alpha-2 country (default: the node id when it is one).") var country: String?
        @Option(help: "Display name (default: the node id).") var name: String?
        @Option(help: "host:port this node listens on for peers.") var address = "127.0.0.1:7400"
        @Option(help: ArgumentHelp("The coalition roster (JSON) listing this node's new key.", valueName: "FILE")) var roster: String?
        @Option(name: .customLong("key"), help: ArgumentHelp("Use this existing signing key file instead of creating one.", valueName: "FILE"))
        var keyFile: String?
        @Option(help: ArgumentHelp("Join the coalition this signed genesis founded (genesis.json).", valueName: "FILE")) var genesis: String?
        @OptionGroup var json: JSONFlag

        func run() throws {
            let country = country ?? (CodeLists.countries.contains(nodeID) ? nodeID : "")
            guard CodeLists.countries.contains(country) else {
                throw PaxsyncError(.usage, "--country is needed: \(nodeID) is not an ISO 3166-1 alpha-2 code", subject: nodeID)
            }
            let key = try keyFile.map { path -> NodeSigningKey in
                try NodeSigningKey(fileContents: String(decoding: InputFile.read(path, "signing key"), as: UTF8.self), source: path)
            } ?? NodeSigningKey()
            var rosterValue = try roster.map(InputFile.roster)
            var founding: Genesis?
            if let genesis {
                guard roster == nil else { throw PaxsyncError(.usage, "--genesis and --roster exclude each other: the genesis gives the roster") }
                let g = try Genesis.decode(InputFile.read(genesis, "genesis"), source: genesis)
                try g.requireComplete(source: genesis)
                var members = g.roster.members
                if let founder = g.roster.member(nodeID) {
                    guard founder.signingKey == key.publicKeyBase64 else {
                        throw PaxsyncError(.usage, "\(nodeID) is a founder in this genesis: pass its key with --key", subject: genesis)
                    }
                } else {
                    members.append(RosterMember(id: nodeID, country: country, name: name ?? nodeID, signingKey: key.publicKeyBase64, address: address))
                }
                rosterValue = Roster(coalition: g.roster.coalition, members: members)
                founding = g
            }
            let dir = try NodeDirectory.initialize(path: dataDir, nodeID: nodeID, country: country, name: name ?? nodeID,
                                                   address: address, roster: rosterValue, key: key) { config in
                if let founding { config.coalitionID = founding.coalitionID }
            }
            if let founding {
                try FileWriter.write(dir.genesisPath, String(decoding: founding.encoded(), as: UTF8.self), mode: 0o644)
            }
            let member = RosterMember(id: nodeID, country: country, name: name ?? nodeID, signingKey: key.publicKeyBase64, address: address)
            if json.enabled {
                Output.json(["nodeId": nodeID, "dataDir": dir.path, "publicKey": key.publicKeyBase64, "replica": dir.replicaPath])
                return
            }
            print("""
                Created node \(nodeID) in \(dir.path)
                  signing key  \(dir.keyPath) (mode 0600; never share it)
                  config       \(dir.file(NodeDirectory.configFile))
                  roster       \(dir.rosterPath)
                  replica      \(dir.replicaPath)
                Public key: \(key.publicKeyBase64)
                Roster entry for the coalition's roster.json:
                \(String(decoding: try JSONEncoder.sorted.encode(member), as: UTF8.self))
                """)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show this node's id, public key, files and log size.",
            discussion: "Example:\n  paxsync node show --data-dir au --json")
        @OptionGroup var node: NodeOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            let dir = try node.directory()
            let replica = try dir.openReplica(writable: false)
            let key = try dir.loadKey()
            let vv = try replica.versionVector()
            let info: [String: String] = [
                "nodeId": dir.configuration.nodeID, "publicKey": key.publicKeyBase64, "dataDir": dir.path,
                "replica": dir.replicaPath, "entries": String(try replica.logCount()),
                "ownSeq": String(vv[dir.configuration.nodeID]), "members": replica.roster.members.map(\.id).joined(separator: ","),
            ]
            if json.enabled { Output.json(info) } else {
                Output.table(["setting", "value"], info.sorted { $0.key < $1.key }.map { [$0.key, $0.value] })
            }
        }
    }
}

struct RosterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roster", abstract: "Show or replace the coalition roster.",
        subcommands: [Show.self, Set.self, Add.self, PinMember.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the roster's members.",
                                                        discussion: "Example:\n  paxsync roster show --data-dir au")
        @OptionGroup var node: NodeOptions
        @OptionGroup var json: JSONFlag
        func run() throws {
            let roster = try node.directory().loadRoster()
            if json.enabled { Output.json(roster); return }
            Output.table(["id", "country", "name", "address", "signing key", "TLS pin"],
                         roster.members.map { [$0.id, $0.country, $0.name, $0.address, $0.signingKey, $0.tlsPin ?? "none (CA)"] })
            print("\nKey fingerprints (SHA-256 of each public key; compare them out of band, give them to `log verify --trust-fingerprint`):")
            for member in roster.members { print("  \(member.id)  \(member.keyFingerprint)") }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install a roster file; it must list this node with its key.",
            discussion: "Example:\n  paxsync roster set --data-dir au coalition-roster.json")
        @OptionGroup var node: NodeOptions
        @Argument(help: ArgumentHelp("Roster JSON file.", valueName: "FILE")) var file: String
        func run() throws {
            let dir = try node.directory()
            let roster = try InputFile.roster(file)
            try dir.installRoster(roster, source: file)
            print("Installed roster with \(roster.members.count) members: \(roster.members.map(\.id).joined(separator: ", "))")
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add members to this node's roster: one by its details, or those of another roster file.",
            discussion: """
                Examples:
                  paxsync roster add --data-dir au --id JP --country JP --name Japan --key BASE64KEY --address 10.0.0.6:7400
                  paxsync roster add --data-dir au --from jp/roster.json
                """)
        @OptionGroup var node: NodeOptions
        @Option(help: ArgumentHelp("Add the members listed in this roster file.", valueName: "FILE")) var from: String?
        @Option var id: String?
        @Option var country: String?
        @Option var name: String?
        @Option(help: "Base64 Ed25519 public key, as `paxsync node init` prints it.") var key: String?
        @Option var address = ""
        @Option(name: .customLong("tls-pin"), help: "The member's TLS pin, as `paxsync tls pin` prints it.") var tlsPin: String?

        func validate() throws {
            if from == nil && (id == nil || country == nil || key == nil) {
                throw ValidationError("give --from FILE, or --id, --country and --key (and --name, --address)")
            }
        }

        func run() throws {
            let dir = try node.directory()
            var roster = try dir.loadRoster()
            var added: [RosterMember] = []
            if let from {
                (roster, added) = try roster.merging(InputFile.roster(from), source: from)
            } else if let id, let country, let key {
                let member = RosterMember(id: id, country: country, name: name ?? id, signingKey: key, address: address, tlsPin: tlsPin)
                roster = try roster.adding(member)
                added = [member]
            }
            let before = try dir.loadRoster()
            try dir.installRoster(roster, source: from ?? "roster add")
            print("Added \(added.isEmpty ? "nobody new" : added.map(\.id).joined(separator: ", ")); the roster lists \(roster.members.map(\.id).joined(separator: ", "))")
            let pinned = roster.members.filter { member in before.member(member.id).map { $0.tlsPin == nil && member.tlsPin != nil } ?? false }
            if !pinned.isEmpty { print("Learned the TLS pins of \(pinned.map(\.id).joined(separator: ", "))") }
        }
    }

    struct PinMember: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pin",
            abstract: "Pin a member's TLS key in this node's roster, or replace its pin (a rotated TLS key).",
            discussion: """
                From then on this node accepts MEMBER only with a certificate for that key (the
                running daemon takes the new roster within a second). Compare the pin out of band with the
                member's `paxsync tls pin`.
                Example:
                  paxsync roster pin --data-dir au JP 3f9c…(64 hex digits)
                """)
        @OptionGroup var node: NodeOptions
        @Argument(help: "The member.") var member: String
        @Argument(help: ArgumentHelp("64 lowercase hex digits.", valueName: "PIN")) var pin: String

        func run() throws {
            let dir = try node.directory()
            var roster = try dir.loadRoster()
            guard let index = roster.members.firstIndex(where: { $0.id == member }) else {
                throw PaxsyncError(.notFound, "not in the roster", subject: member)
            }
            guard RosterMember.isValidTLSPin(pin) else {
                throw PaxsyncError(.badInput, "a TLS pin is 64 lowercase hex digits, as `paxsync tls pin` prints it", subject: pin)
            }
            let old = roster.members[index].tlsPin
            roster.members[index].tlsPin = pin
            try dir.installRoster(roster, source: "roster pin")
            print(old.map { $0 == pin ? "\(member) was already pinned to \(pin)" : "\(member): pin \($0) replaced by \(pin)" }
                  ?? "\(member) pinned to \(pin)")
        }
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "This node's Ed25519 signing key.",
        subcommands: [Rotate.self, New.self, Install.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the key a revocation installs, for a member whose signing key was lost or stolen.",
            discussion: """
                Writes node.key.pending (mode 0600; an existing one is kept) and prints its public key.
                Give it to another member, who proposes the revocation; once a quorum decides it, the
                next start of this node (or `paxsync key install`) makes it node.key, keeping the
                revoked key as node.key.revoked. Entries of this node signed with the revoked key
                from the revocation's seq on are superseded on every node (PROTOCOL §3.5).
                Example:
                  paxsync key new --data-dir kr
                  paxsync member propose revoke KR --from-seq 42 --key BASE64 --reason "laptop stolen" --data-dir au
                """)
        @OptionGroup var node: NodeOptions
        @OptionGroup var json: JSONFlag

        struct Report: Encodable {
            let node: String
            let file: String
            let publicKey: String
            let fingerprint: String
            let created: Bool
        }

        func run() throws {
            let dir = try node.directory()
            let (key, created) = try dir.pendingKey()
            let publicKey = Array(key.key.publicKey.rawRepresentation)
            let report = Report(node: dir.configuration.nodeID, file: dir.pendingKeyPath, publicKey: key.publicKeyBase64,
                                fingerprint: Array(SHA256.hash(data: publicKey)).hex, created: created)
            if json.enabled { Output.json(report); return }
            print("\(created ? "Created" : "Kept") \(report.file): public key \(report.publicKey) (fingerprint \(report.fingerprint))")
            print("Another member proposes the revocation:")
            print("  paxsync member propose revoke \(report.node) --from-seq SEQ --key \(report.publicKey) --reason \"…\"")
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the pending key the node's signing key, once a decision revoked the old one in its favour.",
            discussion: """
                A writable open (the daemon's start, any write command) does the same. Restart a running
                daemon afterwards: it keeps the key it started with.
                Example:
                  paxsync key install --data-dir kr
                """)
        @OptionGroup var node: NodeOptions

        func run() throws {
            let dir = try node.directory()
            guard FileManager.default.fileExists(atPath: dir.pendingKeyPath) else {
                throw PaxsyncError(.notFound, "no pending key (`paxsync key new` creates one)", subject: dir.pendingKeyPath)
            }
            guard try dir.installPendingKey() else {
                throw PaxsyncError(.invalidState, "no decision revokes \(dir.configuration.nodeID)'s key in favour of the pending key yet (`paxsync proposals`)",
                                   subject: dir.pendingKeyPath)
            }
            print("Installed the pending key as \(dir.keyPath); the revoked key is in \(dir.keyPath).revoked. Restart the daemon if it runs.")
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rotate this node's signing key: a logged entry, signed with the current key, names the new one.",
            discussion: """
                Every entry after the rotation is signed with the new key; entries before it keep
                verifying with the old one, on every node and in bundles (PROTOCOL §3.4). No quorum
                is needed: only the holder of the current key can rotate it. The new key replaces
                node.key (mode 0600); the roster keeps listing the first key. A lost or stolen key
                is not rotated this way: that is a revocation by the coalition. Peers that do not
                implement key rotation hold the entry and the ones after it until they are upgraded.
                Example:
                  paxsync key rotate --data-dir kr
                """)
        @OptionGroup var node: NodeOptions
        @OptionGroup var json: JSONFlag

        struct Report: Encodable {
            let node: String
            let entry: String
            let fingerprint: String
            let publicKey: String
        }

        func run() throws {
            let dir = try node.directory()
            // Like any local write: waits for a daemon that just started to lift its pause.
            let (entry, key) = try node.withLocalWrites { replica in try dir.rotateSigningKey(using: replica) }
            node.wakeDaemon()
            let fingerprint = Array(SHA256.hash(data: Array(key.key.publicKey.rawRepresentation))).hex
            if json.enabled {
                Output.json(Report(node: dir.configuration.nodeID, entry: entry.id.description, fingerprint: fingerprint,
                                   publicKey: key.publicKeyBase64))
                return
            }
            print("Rotated \(dir.configuration.nodeID)'s signing key at \(entry.id): entries from seq \(entry.changeSet.seq + 1) on are signed with")
            print("  \(key.publicKeyBase64)  (fingerprint \(fingerprint))")
            print("The new key is in \(dir.keyPath); peers learn it from the log.")
        }
    }
}
