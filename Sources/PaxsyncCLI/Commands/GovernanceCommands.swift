import ArgumentParser
import Foundation
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

/// What a governance command wrote, for `--json`.
struct GovernanceWritten: Encodable {
    let entry: String
    let hash: String
    let action: String
    /// The proposal concerned and where it stands now on this node.
    let proposal: ProposalView?
}

/// One proposal as `paxsync proposals` shows it.
struct ProposalView: Encodable {
    let proposal: String
    let hash: String
    let decision: String
    let kind: String
    let reason: String
    let state: String
    let approvals: [String]
    let needed: Int
    let active: [String]
    let missing: [String]
    let refusal: String?

    init(_ p: GovernanceState.Proposal) {
        proposal = p.id.description
        hash = p.hash.hex
        decision = p.decision.description
        kind = p.decision.kind
        reason = p.reason
        state = p.refusal != nil ? "refused" : p.effective ? "decided" : p.certified ? "decided (no effect)" : "pending"
        approvals = p.approvals.map { "\($0.member) (\($0.entry))" }
        needed = p.needed
        active = p.active
        missing = p.isPending ? p.missing : []
        refusal = p.refusal
    }
}

extension GovernanceWritten {
    init(_ entry: SignedEntry, replica: Replica, proposal: EntryID) {
        self.entry = entry.id.description
        self.hash = entry.hash.hex
        switch entry.changeSet.governance {
        case .proposal(let d, _)?: action = "propose \(d.description)"
        case .approval(let ref)?: action = "approve \(ref.id)"
        case .tlsPin(let pin)?: action = "TLS pin \(pin.hex)"
        case nil: action = ""
        }
        self.proposal = replica.governance.proposals[proposal].map(ProposalView.init)
    }

    func print(json: Bool) {
        if json { Output.json(self); return }
        Swift.print("wrote \(entry) (\(action))")
        if let p = proposal {
            Swift.print("proposal \(p.proposal): \(p.state); approvals \(p.approvals.count) of \(p.needed) needed among \(p.active.count) active members"
                        + (p.missing.isEmpty ? "" : "; waiting for \(p.missing.joined(separator: ", "))"))
        }
    }
}

extension MemberCommand {
    struct Propose: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Propose a decision to the members: admit, suspend, reinstate or remove a member, or change the quorum.",
            discussion: """
                The proposal is an entry in this node's own log (PROTOCOL §3.5) and counts as its
                approval; it takes effect on every node once more than the quorum's fraction of the
                members active in its causal past approved it (`paxsync member approve`).
                Examples:
                  paxsync member propose admit CA --country CA --name Canada --signing-key KEY \\
                      --address ca.example.org:7443 --tls-pin PIN --reason "joined at the 2026 summit" --data-dir au
                  paxsync member propose remove IL --reason "left the coalition" --data-dir au
                  paxsync member propose quorum 2/3 --data-dir au
                """,
            subcommands: [Admit.self, Suspend.self, Reinstate.self, Remove.self, Quorum.self, Revoke.self])

        struct Admit: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Propose admitting a new member.",
                discussion: """
                    The new member's operator runs `paxsync node init --id ID --genesis genesis.json`
                    and sends its signing key (`paxsync key show`) and TLS pin (`paxsync tls pin`).
                    Example:
                      paxsync member propose admit CA --country CA --name Canada --signing-key KEY \\
                          --address ca.example.org:7443 --tls-pin PIN --data-dir au
                    """)
            @Argument(help: "The new member's id (two to eight capital letters).") var id: String
            @Option(help: "ISO 3166-1 alpha-2 country code.") var country: String
            @Option(help: "Display name.") var name: String
            @Option(name: .customLong("signing-key"), help: "Its Ed25519 public key, base64 (44 characters).") var signingKey: String
            @Option(help: "host:port where its node listens for peers.") var address: String
            @Option(name: .customLong("tls-pin"), help: "SHA-256 of its TLS certificate's SubjectPublicKeyInfo, 64 hex digits.") var tlsPin: String?
            @Option(help: "Why, for the other members.") var reason = ""
            @OptionGroup var node: NodeOptions
            @OptionGroup var json: JSONFlag

            func run() throws {
                guard let key = Data(base64Encoded: signingKey), key.count == 32 else {
                    throw PaxsyncError(.usage, "--signing-key must be a 32-byte Ed25519 public key in base64 (44 characters)", subject: id)
                }
                var pin: [UInt8]?
                if let tlsPin {
                    guard RosterMember.isValidTLSPin(tlsPin), let bytes = [UInt8](hex: tlsPin) else {
                        throw PaxsyncError(.usage, "--tls-pin must be 64 lowercase hex digits (`paxsync tls pin`)", subject: id)
                    }
                    pin = bytes
                }
                let member = GovernedMember(id: id, country: country, name: name, signingKey: Array(key), address: address, tlsPin: pin)
                try proposeAndPrint(.admit(member), reason: reason, node: node, json: json.enabled)
            }
        }

        struct Suspend: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Propose suspending an active member: its sessions close and it no longer counts as active.",
                discussion: "Example:\n  paxsync member propose suspend IL --reason \"key compromise under investigation\" --data-dir au")
            @Argument(help: "The member.") var member: String
            @Option(help: "Why, for the other members.") var reason = ""
            @OptionGroup var node: NodeOptions
            @OptionGroup var json: JSONFlag
            func run() throws { try proposeAndPrint(.suspend(member), reason: reason, node: node, json: json.enabled) }
        }

        struct Reinstate: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Propose reinstating a suspended member.",
                discussion: "Example:\n  paxsync member propose reinstate IL --data-dir au")
            @Argument(help: "The member.") var member: String
            @Option(help: "Why, for the other members.") var reason = ""
            @OptionGroup var node: NodeOptions
            @OptionGroup var json: JSONFlag
            func run() throws { try proposeAndPrint(.reinstate(member), reason: reason, node: node, json: json.enabled) }
        }

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Propose removing a member for good: its entries after the cut stop counting on every node.",
                discussion: """
                    The cut defaults to the member's last entry this node holds: entries it signed
                    before stay valid and verifiable, later ones leave the merge (kept as evidence).
                    Example:
                      paxsync member propose remove IL --reason "left the coalition" --data-dir au
                    """)
            @Argument(help: "The member.") var member: String
            @Option(help: "The member's last entry that still counts (default: its last one here).") var cut: UInt64?
            @Option(help: "Why, for the other members.") var reason = ""
            @OptionGroup var node: NodeOptions
            @OptionGroup var json: JSONFlag
            func run() throws {
                let replica = try node.replica(writable: false)
                let cutSeq = try cut ?? replica.versionVector()[member] ?? 0
                try proposeAndPrint(.remove(member: member, cutSeq: cutSeq), reason: reason, node: node, json: json.enabled)
            }
        }

        struct Revoke: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Propose revoking a member's lost or stolen signing key from a seq, installing its new key.",
                discussion: """
                    From SEQ on, the member's entries must be signed with the new key; entries there signed
                    with the old one are superseded on every node (kept as evidence, never merged) and the
                    records they touched are merged again. The member itself takes no part in the decision.
                    It creates the new key with `paxsync key new`. A member that still holds its key
                    rotates it instead (`paxsync key rotate`, no quorum).
                    Example:
                      paxsync member propose revoke KR --from-seq 42 --key BASE64 --reason "laptop stolen" --data-dir au
                    """)
            @Argument(help: "The member.") var member: String
            @Option(help: "The first seq the new key signs (the first entry the stolen key may have signed).") var fromSeq: UInt64
            @Option(help: "The new Ed25519 public key, base64, as `paxsync key new` prints it.") var key: String
            @Option(help: "Why, for the other members.") var reason = ""
            @OptionGroup var node: NodeOptions
            @OptionGroup var json: JSONFlag
            func run() throws {
                guard let raw = Data(base64Encoded: key), raw.count == 32 else {
                    throw PaxsyncError(.usage, "--key must be a base64 Ed25519 public key of 32 bytes", subject: member)
                }
                try proposeAndPrint(.revoke(member: member, fromSeq: fromSeq, newKey: Array(raw)), reason: reason, node: node, json: json.enabled)
            }
        }

        struct Quorum: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Propose a new quorum rule N/D: a decision needs approvals × D > active members × N.",
                discussion: "Example:\n  paxsync member propose quorum 2/3 --data-dir au")
            @Argument(help: "The fraction, N/D, with 1 ≤ N < D ≤ 100.") var fraction: String
            @Option(help: "Why, for the other members.") var reason = ""
            @OptionGroup var node: NodeOptions
            @OptionGroup var json: JSONFlag
            func run() throws {
                let parts = fraction.split(separator: "/")
                guard parts.count == 2, let n = UInt32(parts[0]), let d = UInt32(parts[1]), QuorumRule(numerator: n, denominator: d).isValid else {
                    throw PaxsyncError(.usage, "the quorum is a fraction N/D with 1 ≤ N < D ≤ 100 (\"\(fraction)\")")
                }
                try proposeAndPrint(.quorum(QuorumRule(numerator: n, denominator: d)), reason: reason, node: node, json: json.enabled)
            }
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a proposal another member made.",
            discussion: """
                The approval names the proposal's entry and its hash, and is an entry in this node's
                own log. `paxsync proposals` lists the pending ones.
                Example:
                  paxsync member approve AU:17 --data-dir jp
                """)
        @Argument(help: "The proposal's entry, ORIGIN:SEQ.") var proposal: String
        @OptionGroup var node: NodeOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            guard let id = EntryID(proposal) else { throw PaxsyncError(.usage, "\"\(proposal)\" is not an entry (ORIGIN:SEQ, such as AU:17)") }
            try node.withLocalWrites { replica in
                let entry = try replica.approve(id)
                GovernanceWritten(entry, replica: replica, proposal: id).print(json: json.enabled)
            }
        }
    }
}

func proposeAndPrint(_ decision: GovernanceDecision, reason: String, node: NodeOptions, json: Bool) throws {
    try node.withLocalWrites { replica in
        let entry = try replica.propose(decision, reason: reason)
        GovernanceWritten(entry, replica: replica, proposal: entry.id).print(json: json)
    }
}

struct ProposalsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proposals",
        abstract: "Governance proposals this node holds: pending ones with their approvals so far and who is missing.",
        discussion: """
            Example:
              paxsync proposals --data-dir jp
              paxsync proposals --all --json --data-dir jp
            """)
    @Flag(help: "Also decided and refused proposals.") var all = false
    @OptionGroup var node: NodeOptions
    @OptionGroup var json: JSONFlag

    func run() throws {
        let replica = try node.replica(writable: false)
        let proposals = replica.governance.proposals.values.sorted { $0.stamp < $1.stamp }
            .filter { all || $0.isPending }.map(ProposalView.init)
        if json.enabled { Output.json(proposals); return }
        if proposals.isEmpty { print(all ? "no proposals" : "no pending proposals (--all shows decided ones)"); return }
        Output.table(["proposal", "decision", "state", "approvals", "missing", "reason"], proposals.map { p in
            [p.proposal, p.decision, p.refusal.map { "refused: \($0)" } ?? p.state, "\(p.approvals.count)/\(p.needed)",
             p.missing.joined(separator: ","), p.reason]
        })
    }
}

struct EquivocationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "equivocation", abstract: "Decisions about an origin that signed two entries at one seq.", subcommands: [Resolve.self])

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Propose the branch that stands at an equivocation: the other is kept as evidence and the origin writes again.",
            discussion: """
                `paxsync status` and `paxsync quarantine` show both hashes. Once a quorum approves, every node
                keeps the named entry at ORIGIN:SEQ and the entries chained after it; any other entry there
                and its successors are superseded (kept as evidence, never merged) and the records they
                touched are merged again. The origin takes no part in the decision.
                Example:
                  paxsync equivocation resolve JP:42 --keep 3f9a…(64 hex digits) --reason "JP restored a stale backup" --data-dir au
                """)
        @Argument(help: "The entry, ORIGIN:SEQ.") var entry: String
        @Option(help: "The hash of the entry that stands (64 hex digits).") var keep: String
        @Option(help: "Why, for the other members.") var reason: String
        @OptionGroup var node: NodeOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            guard let id = EntryID(entry) else { throw PaxsyncError(.usage, "\"\(entry)\" is not an entry (ORIGIN:SEQ, such as JP:42)") }
            guard keep.isLowercaseSHA256Hex else { throw PaxsyncError(.usage, "--keep must be 64 lowercase hex digits", subject: id.description) }
            let replica = try node.replica(writable: false)
            let known = try replica.equivocations().filter { $0.entry == id.description }.flatMap { [$0.hashA, $0.hashB] }
            if !known.isEmpty, !known.contains(keep) {
                throw PaxsyncError(.usage, "this node holds the entries \(known.map { String($0.prefix(16)) + "…" }.joined(separator: ", ")) at \(id); --keep names neither",
                                   subject: id.description)
            }
            try proposeAndPrint(.resolve(EntryRef(origin: id.origin, seq: id.seq, hash: [UInt8](hex: keep)!)), reason: reason, node: node, json: json.enabled)
        }
    }
}

struct EntryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "entry", abstract: "Decisions about single log entries.", subcommands: [Void.self])

    struct Void: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Propose voiding an entry that blocks its origin: its changes never count, the origin's chain continues past it.",
            discussion: """
                The entry stays in the log as evidence. The hash defaults to the entry this node holds
                (quarantined or logged) at ORIGIN:SEQ. Once a quorum approves, the origin writes again.
                Example:
                  paxsync entry void JP:42 --reason "written by a misconfigured importer" --data-dir au
                """)
        @Argument(help: "The entry, ORIGIN:SEQ.") var entry: String
        @Option(help: "Why, for the other members.") var reason: String
        @Option(help: "The entry's hash (64 hex digits), when this node holds more than one at ORIGIN:SEQ.") var hash: String?
        @OptionGroup var node: NodeOptions
        @OptionGroup var json: JSONFlag

        func run() throws {
            guard let id = EntryID(entry) else { throw PaxsyncError(.usage, "\"\(entry)\" is not an entry (ORIGIN:SEQ, such as JP:42)") }
            let replica = try node.replica(writable: false)
            var candidates = try replica.quarantined().filter { $0.entry == id.description }.map(\.hash)
            if let logged = try replica.logEntry(id) { candidates.append(logged.entry.hash.hex) }
            let chosen: String
            if let hash {
                guard hash.isLowercaseSHA256Hex else { throw PaxsyncError(.usage, "--hash must be 64 lowercase hex digits", subject: id.description) }
                chosen = hash
            } else if candidates.count == 1 {
                chosen = candidates[0]
            } else if candidates.isEmpty {
                throw PaxsyncError(.notFound, "this node holds no entry \(id); pass --hash with the hash a peer reports", subject: id.description)
            } else {
                throw PaxsyncError(.usage, "this node holds \(candidates.count) entries at \(id) (\(candidates.map { String($0.prefix(16)) + "…" }.joined(separator: ", "))); choose one with --hash",
                                   subject: id.description)
            }
            try proposeAndPrint(.void(EntryRef(origin: id.origin, seq: id.seq, hash: [UInt8](hex: chosen)!)), reason: reason, node: node, json: json.enabled)
        }
    }
}
