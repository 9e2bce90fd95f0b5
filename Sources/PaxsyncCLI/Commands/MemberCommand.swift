import ArgumentParser
import Crypto
import Foundation
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

struct MemberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member", abstract: "The coalition's members as this node knows them.",
        subcommands: [List.self, Propose.self, Approve.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the members: founder or not, signing keys (the roster's and the one in effect), TLS pin, log state.",
            discussion: """
                The signing key in effect is the roster's, or the key the member's last rotation in
                the log named (`paxsync key rotate`, PROTOCOL §3.4). Fingerprints are SHA-256 of the
                raw public key; compare them out of band.
                Example:
                  paxsync member list --data-dir au --json
                """)
        @OptionGroup var node: NodeOptions
        @OptionGroup var json: JSONFlag

        struct Member: Encodable {
            let id: String
            let country: String
            let name: String
            let address: String
            /// Listed in the coalition's genesis (nil: this node has no genesis).
            let founder: Bool?
            let rosterKeyFingerprint: String
            let currentKeyFingerprint: String
            /// `ORIGIN:SEQ` of each rotation, oldest first.
            let rotations: [String]
            let tlsPin: String?
            let lastSeq: UInt64
            let state: String
            /// active, suspended or removed (by decision, §3.5); "not admitted" for this node before its admission.
            let membership: String
            /// The proposal that admitted it and who approved it (nil for a founder).
            let admittedBy: String?
            let approvedBy: [String]?
        }

        func run() throws {
            let dir = try node.directory()
            let replica = try dir.openReplica(writable: false)
            let genesis = try dir.loadGenesis()
            let rotations = try replica.keyRotations()
            let origins = Dictionary(uniqueKeysWithValues: try replica.origins().map { ($0.origin, $0) })
            let governance = replica.governance
            let listed = replica.roster.members + governance.members.values.filter { replica.roster.member($0.member.id) == nil }
                .sorted { $0.member.id < $1.member.id }.map { RosterMember(governed: $0.member) }
            let members = listed.map { m -> Member in
                let governed = governance.members[m.id]
                let admission = governed?.admittedBy.flatMap { governance.proposals[$0] }
                let own = rotations.filter { $0.origin == m.id }
                let current = own.last.map { Array(SHA256.hash(data: $0.key)).hex } ?? m.keyFingerprint
                return Member(id: m.id, country: m.country, name: m.name, address: m.address,
                              founder: genesis.map { $0.roster.member(m.id) != nil }, rosterKeyFingerprint: m.keyFingerprint,
                              currentKeyFingerprint: current, rotations: own.map { "\(m.id):\($0.fromSeq - 1)" }, tlsPin: m.tlsPin,
                              lastSeq: origins[m.id]?.lastSeq ?? 0, state: origins[m.id]?.status.rawValue ?? "ok",
                              membership: governed?.status.rawValue ?? "not admitted", admittedBy: governed?.admittedBy?.description,
                              approvedBy: admission.map { $0.approvals.map(\.member) })
            }
            if json.enabled { Output.json(members); return }
            if let genesis { print("coalition \(genesis.coalitionID)  \(genesis.roster.coalition); quorum \(genesis.quorum.description)\n") }
            Output.table(["id", "country", "name", "member", "founder", "seq", "state", "signing key (in effect)", "rotated at", "TLS pin"], members.map { m in
                [m.id, m.country, m.name, m.membership + (m.admittedBy.map { " (admitted by \($0): \(m.approvedBy?.joined(separator: ",") ?? ""))" } ?? ""),
                 m.founder.map { $0 ? "yes" : "no" } ?? "-", "\(m.lastSeq)", m.state,
                 String(m.currentKeyFingerprint.prefix(16)) + "…", m.rotations.isEmpty ? "-" : m.rotations.joined(separator: ","),
                 m.tlsPin.map { String($0.prefix(16)) + "…" } ?? "none (CA)"]
            })
        }
    }
}
