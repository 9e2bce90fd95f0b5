import Crypto
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// Protocol/governance-vectors.json: three founders (AU, JP, KR) admit CA by
/// quorum (PROTOCOL §3.5). AU:1 proposes the admission, JP:1 approves it (2 of 3
/// active: the quorum of more than half), KR:1 approves too (counted, no longer
/// needed), JP:2 approves a second time (refused: `invalid-state`), and CA:1,
/// signed with the key the admission names, is valid once the decision is in
/// its causal past. Regenerate (only when the format changes on purpose) with
/// `PAXSYNC_WRITE_VECTORS=1 swift test --filter GovernanceVector`.
struct GovernanceVectors: Codable, Equatable {
    struct Entry: Codable, Equatable {
        let name: String
        let entry: String
        let bodyHex: String
        let signatureHex: String
        let hashHex: String
        let prevHashHex: String
        /// The change set's fields as JSON with the .proto field names (bytes in base64), for re-encoding; empty for a data entry.
        let fields: String
        /// The signer's public key.
        let publicKeyHex: String
        /// `applied`, or the quarantine code a node gives it.
        let verdict: String
    }
    let description: String
    let signingContextHex: String
    let founders: [String]
    let quorumNumerator: UInt32
    let quorumDenominator: UInt32
    /// Member id → private key (32 bytes, hex), for re-signing checks.
    let privateKeysHex: [String: String]
    let entries: [Entry]
    /// The entry whose arrival makes the admission a decision, and the approvals counted then.
    let decidedBy: String
    let approvalsCounted: [String]
}

@Suite("Governance vectors")
struct GovernanceVectorTests {
    static let url = packageRoot.appendingPathComponent("Protocol/governance-vectors.json")
    static let coalition = TestCoalition(["AU", "JP", "KR", "CA"], seed: 42)
    static var founders: Roster { Roster(coalition: "vector coalition", members: coalition.roster.members.filter { $0.id != "CA" }) }

    static func make() throws -> GovernanceVectors {
        let t: UInt64 = 1_795_910_400_000 << 16
        let keys = coalition.keys.mapValues(\.key)
        let caKey = Array(keys["CA"]!.publicKey.rawRepresentation)
        let admit = GovernedMember(id: "CA", country: "CA", name: "Canada", signingKey: caKey, address: "ca.example.org:7400",
                                   tlsPin: Array(SHA256.hash(data: Array("CA tls key".utf8))))
        func sign(_ cs: ChangeSet) -> SignedEntry { SignedEntry(signing: cs, with: keys[cs.origin]!) }
        let proposal = sign(ChangeSet(origin: "AU", seq: 1, hlc: HLC(rawValue: t), prevHash: [], changes: [], note: "propose admit",
                                      formatVersion: 3, governance: .proposal(.admit(admit), reason: "joined at the summit")))
        let ref = EntryRef(origin: "AU", seq: 1, hash: proposal.hash)
        let jp = sign(ChangeSet(origin: "JP", seq: 1, hlc: HLC(rawValue: t + (1 << 16)), prevHash: [], deps: ["AU": 1], changes: [],
                                note: "approve AU:1", formatVersion: 3, governance: .approval(ref)))
        let kr = sign(ChangeSet(origin: "KR", seq: 1, hlc: HLC(rawValue: t + (2 << 16)), prevHash: [], deps: ["AU": 1, "JP": 1], changes: [],
                                note: "approve AU:1", formatVersion: 3, governance: .approval(ref)))
        let again = sign(ChangeSet(origin: "JP", seq: 2, hlc: HLC(rawValue: t + (3 << 16)), prevHash: jp.hash, deps: ["AU": 1, "KR": 1],
                                   changes: [], note: "approve AU:1", formatVersion: 3, governance: .approval(ref)))
        let ca = sign(ChangeSet(origin: "CA", seq: 1, hlc: HLC(rawValue: t + (4 << 16)), prevHash: [], deps: ["AU": 1, "JP": 1, "KR": 1],
                                changes: [RowChange(table: "facilities", key: "CA-SUDBURY", op: .create, fields: [
                                    FieldChange(name: "name", value: .text("Sudbury")), FieldChange(name: "kind", value: .text("mine")),
                                    FieldChange(name: "country", value: .text("CA")), FieldChange(name: "latitude", value: .real(46.49)),
                                    FieldChange(name: "longitude", value: .real(-80.99)),
                                ])]))
        // The branch decisions' shapes: KR proposes revoking CA's key from CA:2, AU proposes resolving
        // an equivocation at CA:1 by keeping CA:1. Accepted as proposals; neither reaches its quorum here.
        let newCAKey = Array(try! Curve25519.Signing.PrivateKey(rawRepresentation: Array(SHA256.hash(data: Array("CA new key".utf8)))).publicKey.rawRepresentation)
        let revoke = sign(ChangeSet(origin: "KR", seq: 2, hlc: HLC(rawValue: t + (5 << 16)), prevHash: kr.hash,
                                    deps: ["AU": 1, "CA": 1, "JP": 1], changes: [], note: "propose revoke", formatVersion: 3,
                                    governance: .proposal(.revoke(member: "CA", fromSeq: 2, newKey: newCAKey), reason: "key lost")))
        let resolve = sign(ChangeSet(origin: "AU", seq: 2, hlc: HLC(rawValue: t + (6 << 16)), prevHash: proposal.hash,
                                     deps: ["CA": 1, "JP": 1, "KR": 2], changes: [], note: "propose resolve", formatVersion: 3,
                                     governance: .proposal(.resolve(EntryRef(origin: "CA", seq: 1, hash: ca.hash)), reason: "CA:1 stands")))
        func vector(_ name: String, _ e: SignedEntry, verdict: String = "applied") -> GovernanceVectors.Entry {
            .init(name: name, entry: e.id.description, bodyHex: e.body.hex, signatureHex: e.signature.hex, hashHex: e.hash.hex,
                  prevHashHex: e.changeSet.prevHash.hex, fields: fieldsJSON(e.changeSet),
                  publicKeyHex: Array(keys[e.changeSet.origin]!.publicKey.rawRepresentation).hex, verdict: verdict)
        }
        return GovernanceVectors(
            description: "Three founders admit CA by quorum (PROTOCOL.md §3.5). Each entry is a SignedEntry (§3.2) by its origin's key; "
                + "fields is the change set as JSON with the .proto field names (bytes in base64), which re-encodes to bodyHex. "
                + "AU:1 proposes; JP:1 approves, making 2 approvals of 3 active members: 2 × 2 > 3 × 1, the admission is decided. "
                + "KR:1 approves too. JP:2 approves AU:1 a second time: invalid-state, quarantined, blocking JP. CA:1 is signed with the "
                + "key the admission names and is applied once the decision is in its causal past. KR:2 and AU:2 show the shapes of a "
                + "revocation (a Revocation: member, from_seq, new_key) and of a resolution (an EntryRef): accepted proposals, not decided.",
            signingContextHex: SignedEntry.signingContext.hex, founders: ["AU", "JP", "KR"], quorumNumerator: 1, quorumDenominator: 2,
            privateKeysHex: keys.mapValues { Array($0.rawRepresentation).hex },
            entries: [
                vector("AU:1, proposal: admit CA", proposal),
                vector("JP:1, approval of AU:1 — the quorum", jp),
                vector("KR:1, approval of AU:1", kr),
                vector("JP:2, JP's second approval of AU:1", again, verdict: "invalid-state"),
                vector("CA:1, CA's first entry", ca),
                vector("KR:2, proposal: revoke CA's key from CA:2", revoke),
                vector("AU:2, proposal: resolve an equivocation at CA:1, keeping CA:1", resolve),
            ],
            decidedBy: "JP:1", approvalsCounted: ["AU", "JP"])
    }

    /// The change set as JSON with the .proto field names, bytes in base64 ("" for entries with row changes).
    static func fieldsJSON(_ cs: ChangeSet) -> String {
        guard cs.changes.isEmpty, let action = cs.governance else { return "" }
        func ref(_ r: EntryRef) -> [String: Any] { ["origin": r.origin, "seq": r.seq, "hash": Data(r.hash).base64EncodedString()] }
        var governance: [String: Any] = [:]
        switch action {
        case .approval(let r): governance["approval"] = ["proposal": ref(r)]
        case .proposal(.admit(let m), let reason):
            governance["proposal"] = ["admit": ["id": m.id, "country": m.country, "name": m.name, "signing_key": Data(m.signingKey).base64EncodedString(),
                                                "address": m.address, "tls_pin": Data(m.tlsPin ?? []).base64EncodedString()] as [String: Any],
                                      "reason": reason] as [String: Any]
        case .proposal(.revoke(let member, let from, let key), let reason):
            governance["proposal"] = ["revoke": ["member": member, "from_seq": from, "new_key": Data(key).base64EncodedString()] as [String: Any],
                                      "reason": reason] as [String: Any]
        case .proposal(.resolve(let r), let reason):
            governance["proposal"] = ["resolve": ref(r), "reason": reason] as [String: Any]
        case .proposal, .tlsPin: return ""
        }
        let object: [String: Any] = [
            "format_version": cs.formatVersion, "origin": cs.origin, "seq": cs.seq, "hlc": cs.hlc.rawValue,
            "prev_hash": Data(cs.prevHash).base64EncodedString(), "schema_version": cs.schemaVersion,
            "deps": cs.deps.sorted { $0.key < $1.key }.map { ["origin": $0.key, "seq": $0.value] as [String: Any] },
            "note": cs.note, "governance": governance,
        ]
        return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test("the committed governance vectors are what this implementation writes; a replica and the log verifier reach their verdicts")
    func vectors() throws {
        let vectors = try Self.make()
        let committed = try VectorFile.committed(vectors, at: Self.url)
        #expect(committed == vectors)
        let entries = try committed.entries.map { try SignedEntry(body: [UInt8](hex: $0.bodyHex)!, signature: [UInt8](hex: $0.signatureHex)!) }
        for (v, e) in zip(committed.entries, entries) {
            #expect(e.verify(publicKey: [UInt8](hex: v.publicKeyHex)!) && e.hash.hex == v.hashHex, "\(v.name)")
        }
        // A replica of a founder (KR), given them in order.
        let dir = TemporaryDirectory("paxsync-governance-vectors")
        let replica = try Replica(path: dir.file("KR.sqlite"), nodeID: "KR", roster: Self.founders, signingKey: Self.coalition.keys["KR"],
                                  clock: ManualClock(milliseconds: 1_795_910_500_000), configuration: ReplicaConfiguration(founders: Self.founders))
        var decidedAt: String?
        for (v, e) in zip(committed.entries, entries) {
            let outcome = try replica.apply([e])[0]
            switch outcome {
            case .applied: #expect(v.verdict == "applied", "\(v.name): \(outcome)")
            case .quarantined(let error): #expect(v.verdict == error.code.rawValue, "\(v.name): \(outcome)")
            default: Issue.record("\(v.name): \(outcome)")
            }
            if decidedAt == nil, replica.governance.members["CA"] != nil { decidedAt = v.entry }
        }
        #expect(decidedAt == committed.decidedBy)
        let decision = try #require(replica.governance.proposals[EntryID(origin: "AU", seq: 1)])
        #expect(decision.effective && Array(decision.approvals.map(\.member).prefix(2)) == committed.approvalsCounted)
        // The log verifier admits CA from the entries before CA:1.
        var verifier = LogVerifier(roster: Self.founders)
        for (v, e) in zip(committed.entries, entries) where v.verdict == "applied" {
            try verifier.check(body: e.body, signature: e.signature, position: v.entry)
        }
        #expect(verifier.report.decisions.first?.hasPrefix("CA admitted by proposal AU:1, approved by AU (AU:1), JP (JP:1)") == true,
                "\(verifier.report.decisions)")
    }
}
