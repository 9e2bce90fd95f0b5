import Crypto
import Foundation
import PaxsyncCLI
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("Governance on real processes: admission and removal by quorum", .serialized)
struct GovernanceServeTests {
    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    func proposal(_ c: ServedCoalition, _ node: String, _ id: String) async throws -> [String: Any]? {
        let all = try json(try await c.cli(node).ok(["proposals", "--all", "--json"])) as? [[String: Any]]
        return all?.first { $0["proposal"] as? String == id }
    }

    func membership(_ c: ServedCoalition, _ node: String, _ member: String) async throws -> String? {
        let list = try json(try await c.cli(node).ok(["member", "list", "--json"])) as? [[String: Any]]
        return list?.first { $0["id"] as? String == member }?["membership"] as? String
    }

    @Test("five founders; CA proposed by AU: refused with 2 approvals, admitted by the 3rd; CA's node, made from the genesis alone, catches up and writes; IL removed: its sessions close")
    func admitAndRemove() async throws {
        let founders = ["AU", "JP", "KR", "SG", "IL"]
        let (c, genesis) = try await founded(founders)
        try await c.cli("AU").ok(["facility", "create", "--id", "AU-F", "--name", "F", "--kind", "port", "--country", "AU", "--lat", "1", "--lon", "1"])

        // Canada's operator makes its node from the genesis alone and sends its key and pin.
        let caPath = c.dir.file("CA"), caPort = LoopbackPorts.reserve()
        let made = try json(try await Paxsync().ok(["node", "init", "--node-id", "CA", "--data-dir", caPath, "--name", "Canada",
                                                     "--address", "127.0.0.1:\(caPort)", "--genesis", genesis, "--json"])) as? [String: String]
        let caKey = try #require(made?["publicKey"])
        try await c.cli("CA").ok(["tls", "create", "--host", "127.0.0.1"])
        let caPin = try await c.cli("CA").ok(["tls", "pin"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let refusedEarly = try await c.cli("CA").run(["facility", "create", "--id", "CA-F", "--name", "F", "--kind", "mine", "--country", "CA",
                                                      "--lat", "46", "--lon", "-81"])
        #expect(refusedEarly.status != 0 && refusedEarly.stderr.contains("not admitted yet"), "\(refusedEarly.stderr)")
        let ca = try LocalCoalition(opening: c.dir.path, ids: ["CA"], executable: Paxsync.binary)
        try ca.start("CA")
        defer { _ = ca.stop("CA") }

        let proposed = try json(try await c.cli("AU").ok(["member", "propose", "admit", "CA", "--country", "CA", "--name", "Canada",
                                                          "--signing-key", caKey, "--address", "127.0.0.1:\(caPort)", "--tls-pin", caPin,
                                                          "--reason", "joined at the summit", "--json"])) as? [String: Any]
        let id = try #require(proposed?["entry"] as? String)
        _ = try await waitFor("JP holds the proposal") { try await proposal(c, "JP", id) != nil }
        try await c.cli("JP").ok(["member", "approve", id])
        _ = try await waitFor("AU counts 2 approvals") { (try await proposal(c, "AU", id)?["approvals"] as? [Any])?.count == 2 }
        #expect(try await proposal(c, "AU", id)?["state"] as? String == "pending")
        let status = try await c.cli("AU").ok(["status"])
        #expect(status.contains("pending proposals") && status.contains("\(id)") && status.contains("admit CA"), "\(status)")
        #expect(try await membership(c, "AU", "CA") == nil)
        let refused = try await waitFor("with 2 approvals the founders refuse CA at the TLS handshake") {
            let status = try JSONDecoder().decode(NodeStatus.self, from: Data(try await c.cli("CA").ok(["status", "--json"]).utf8))
            return status.peers.contains { $0.lastError?.contains("CERTIFICATE_UNKNOWN") == true } && !status.peers.contains(where: \.connected)
        }
        #expect(refused)

        _ = try await waitFor("KR holds the proposal") { try await proposal(c, "KR", id) != nil }
        try await c.cli("KR").ok(["member", "approve", id])
        let admitted = try await waitFor("the 3rd approval admits CA on every founder and on CA's own node", seconds: 40) {
            for node in founders + ["CA"] where try await membership(c, node, "CA") != "active" { return false }
            return true
        }
        #expect(admitted)
        try await waitForLocalWrites(c, "CA")
        try await c.cli("CA").ok(["facility", "create", "--id", "CA-SUDBURY", "--name", "Sudbury", "--kind", "mine", "--country", "CA",
                                  "--lat", "46.5", "--lon", "-81"])
        let converged = try await waitFor("CA caught up and its entry is accepted by all: equal digests", seconds: 40) {
            var digests = Set<String>()
            for node in founders + ["CA"] { digests.insert(try await c.digest(node)) }
            let rows = try await c.facilities("IL")
            return digests.count == 1 && rows == 2
        }
        if !converged { for node in founders + ["CA"] { print("--- \(node)\n\(c.log(node))") } }
        let members = try json(try await c.cli("IL").ok(["member", "list", "--json"])) as? [[String: Any]]
        let caRow = members?.first { $0["id"] as? String == "CA" }
        #expect(caRow?["admittedBy"] as? String == id && (caRow?["approvedBy"] as? [String]) == ["AU", "JP", "KR"])
        let explained = try json(try await c.cli("SG").ok(["explain", "member", "CA", "--json"])) as? [String: Any]
        let decisions = explained?["decisions"] as? [[String: Any]]
        #expect(explained?["status"] as? String == "active" && decisions?.first?["proposal"] as? String == id
                && (decisions?.first?["approvals"] as? [String])?.count == 3, "\(String(describing: explained))")

        // IL is removed: with CA, six members are active, so AU, JP, KR and SG decide; AU's session with IL closes and IL is no longer its peer.
        let removal = try json(try await c.cli("AU").ok(["member", "propose", "remove", "IL", "--reason", "left", "--json"])) as? [String: Any]
        let rid = try #require(removal?["entry"] as? String)
        for node in ["JP", "KR", "SG"] {
            _ = try await waitFor("\(node) holds the removal") { try await proposal(c, node, rid) != nil }
            try await c.cli(node).ok(["member", "approve", rid])
        }
        let dropped = try await waitFor("AU drops IL's sessions", seconds: 30) {
            let au = try JSONDecoder().decode(NodeStatus.self, from: Data(try await c.cli("AU").ok(["status", "--json"]).utf8))
            return !au.peers.contains { $0.id == "IL" && $0.connected } && au.roster.allSatisfy { $0.id != "IL" }
        }
        #expect(dropped)
        #expect(try await membership(c, "AU", "IL") == "removed")
        for node in founders { #expect(c.stop(node) == 0) }
        #expect(ca.stop("CA") == 0)
        for node in founders + ["CA"] { #expect(try await c.cli(node).ok(["log", "verify", "--quiet"]).hasPrefix("OK"), "\(node)") }
        // The audit bundle carries the genesis and the governance entries: the verifier admits CA from them.
        let bundle = c.dir.file("au.bundle")
        try await c.cli("AU").ok(["log", "export", "--out", bundle, "--quiet"])
        let verified = try await Paxsync().ok(["log", "verify", "--bundle", bundle])
        #expect(verified.hasPrefix("OK") && verified.contains("CA admitted by proposal \(id), approved by AU"), "\(verified)")
        #expect(verified.contains("remove IL"), "\(verified)")
        // Replaying the bundle decides the same governance again and rebuilds the same records.
        let rebuilt = c.dir.file("rebuilt.sqlite")
        let replayed = try await Paxsync().ok(["replay", "--bundle", bundle, "--into", rebuilt])
        let auDigest = try await c.digest("AU")
        #expect(replayed.contains(auDigest), "\(replayed) vs \(auDigest)")
    }

    @Test("KR rotates its TLS key by a logged entry: after a restart with the new certificate every peer accepts it, no roster edited")
    func tlsKeyRotation() async throws {
        let founders = ["AU", "JP", "KR"]
        let (c, _) = try await founded(founders)
        let oldPin = try await c.cli("KR").ok(["tls", "pin"]).trimmingCharacters(in: .whitespacesAndNewlines)
        try await waitForLocalWrites(c, "KR")
        let rotated = try json(try await c.cli("KR").ok(["tls", "rotate", "--json"])) as? [String: String]
        let newPin = try #require(rotated?["tlsPin"])
        let shownPin = try await c.cli("KR").ok(["tls", "pin"]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(newPin != oldPin && newPin == shownPin)
        func pin(_ node: String) async throws -> String? {
            let list = try json(try await c.cli(node).ok(["member", "list", "--json"])) as? [[String: Any]]
            return list?.first { $0["id"] as? String == "KR" }?["tlsPin"] as? String
        }
        _ = try await waitFor("AU and JP learn KR's new pin from the log") {
            let au = try await pin("AU"), jp = try await pin("JP")
            return au == newPin && jp == newPin
        }
        // KR restarts with its new certificate and writes: both peers accept it.
        #expect(c.stop("KR") == 0)
        try c.start("KR")
        try await waitForLocalWrites(c, "KR")
        try await c.cli("KR").ok(["facility", "create", "--id", "KR-NEW", "--name", "N", "--kind", "port", "--country", "KR", "--lat", "1", "--lon", "1"])
        let converged = try await waitFor("KR's entry written after the restart reaches AU and JP") {
            let rows = try await c.facilities("AU")
            return try await c.digests().count == 1 && rows == 1
        }
        if !converged { for node in founders { print("--- \(node)\n\(c.log(node))") } }
        let roster = try Roster.decode(Data(contentsOf: URL(fileURLWithPath: c.dir.file("AU") + "/roster.json")), source: "roster")
        #expect(roster.member("KR")?.tlsPin == oldPin, "AU's roster file was not edited")
        for node in founders { #expect(c.stop(node) == 0) }
    }

    @Test("JP blocked on every node by an invalid entry signed with its key is released by a void decision, and writes again")
    func voidReleasesABlockedOrigin() async throws {
        let founders = ["AU", "JP", "KR"]
        let (c, _) = try await founded(founders)
        try await waitForLocalWrites(c, "AU")
        try await c.cli("AU").ok(["facility", "create", "--id", "AU-F", "--name", "F", "--kind", "port", "--country", "AU", "--lat", "1", "--lon", "1"])
        _ = try await waitFor("JP holds AU's facility") { try await c.facilities("JP") == 1 }
        // JP's key signs what JP's software never writes: an update of AU's facility.
        let jp = try NodeDirectory.open(c.dir.file("JP"))
        let replica = try jp.openReplica(writable: false)
        let vv = try replica.versionVector()
        let head = vv["JP"]
        let prev = head == 0 ? [] : try #require(try replica.logEntry(EntryID(origin: "JP", seq: head))).entry.hash
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let bad = SignedEntry(signing: ChangeSet(origin: "JP", seq: head + 1, hlc: HLC(physicalMilliseconds: now, logical: 0), prevHash: prev,
                                                 deps: ["AU": vv["AU"]], changes: [RowChange(table: "facilities", key: "AU-F", op: .update,
                                                                                            fields: [FieldChange(name: "name", value: .text("taken"))])]),
                              with: try jp.loadKey().key)
        for node in founders { try await importBundle(c, into: node, [bad], roster: replica.baseRoster) }
        let refused = try await c.cli("JP").run(["facility", "create", "--id", "JP-F", "--name", "F", "--kind", "port", "--country", "JP", "--lat", "2", "--lon", "2"])
        #expect(refused.status != 0 && refused.stderr.contains("blocked"), "\(refused.stderr)")
        let bad_ = "JP:\(head + 1)"
        #expect(try await c.cli("AU").ok(["status"]).contains("paxsync entry void \(bad_)"))

        let proposed = try json(try await c.cli("AU").ok(["entry", "void", bad_, "--reason", "signed by a test", "--json"])) as? [String: Any]
        let id = try #require(proposed?["entry"] as? String)
        _ = try await waitFor("KR holds the void proposal") { try await proposal(c, "KR", id) != nil }
        try await c.cli("KR").ok(["member", "approve", id])
        let released = try await waitFor("JP is released on every node, its own included", seconds: 30) {
            for node in founders {
                let q = try json(try await c.cli(node).ok(["quarantine", "--json"])) as? [String: [Any]]
                if q?.values.contains(where: { !$0.isEmpty }) != false { return false }
            }
            return true
        }
        #expect(released)
        try await c.cli("JP").ok(["facility", "create", "--id", "JP-F", "--name", "F", "--kind", "port", "--country", "JP", "--lat", "2", "--lon", "2"])
        let converged = try await waitFor("JP's new entry reaches everyone; AU's facility keeps its name") {
            let rows = try await c.facilities("KR")
            return try await c.digests().count == 1 && rows == 2
        }
        if !converged { for node in founders { print("--- \(node)\n\(c.log(node))") } }
        let name = try await c.cli("KR").ok(["query", "--json", "SELECT name FROM facilities WHERE id = 'AU-F'"])
        #expect(name.contains("\"F\"") && !name.contains("taken"), "\(name)")
        let logged = try json(try await c.cli("KR").ok(["log", "list", "--json"])) as? [[String: Any]]
        #expect(logged?.first { $0["entry"] as? String == bad_ }?["cut"] as? String != nil, "the voided entry is in the log as evidence")
        for node in founders { #expect(c.stop(node) == 0) }
    }

    @Test("KR's stolen key signs an entry that reaches every node; revoked by AU and JP from that seq (forged approvals, a non-member's and JP's second, change nothing): the entry is superseded everywhere, KR writes with its new key, bundles verify")
    func revokeAStolenKey() async throws {
        let founders = ["AU", "JP", "KR"]
        let (c, _) = try await founded(founders)
        try await waitForLocalWrites(c, "KR")
        try await c.cli("KR").ok(["facility", "create", "--id", "KR-F", "--name", "Ulsan", "--kind", "port", "--country", "KR", "--lat", "1", "--lon", "1"])
        _ = try await waitFor("AU holds KR's facility") { try await c.facilities("AU") == 1 }
        // KR's operator makes its next key while the old one is still in the wrong hands.
        let next = try json(try await c.cli("KR").ok(["key", "new", "--json"])) as? [String: Any]
        let newKey = try #require(next?["publicKey"] as? String)
        // The thief signs KR's next entry with KR's key and hands it to AU, which relays it to all.
        let kr = try NodeDirectory.open(c.dir.file("KR"))
        let replica = try kr.openReplica(writable: false)
        let vv = try replica.versionVector()
        let stolenSeq = vv["KR"] + 1
        let prev = try #require(try replica.logEntry(EntryID(origin: "KR", seq: vv["KR"]))).entry.hash
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let stolen = SignedEntry(signing: ChangeSet(origin: "KR", seq: stolenSeq, hlc: HLC(physicalMilliseconds: now, logical: 0), prevHash: prev,
                                                    deps: ["AU": vv["AU"], "JP": vv["JP"]].filter { $0.value > 0 },
                                                    changes: [RowChange(table: "facilities", key: "KR-F", op: .update,
                                                                        fields: [FieldChange(name: "name", value: .text("stolen"))])]),
                                 with: try kr.loadKey().key)
        try await importBundle(c, into: "AU", [stolen], roster: replica.baseRoster)
        let spread = try await waitFor("every node, KR's own included, applied the stolen entry") {
            for node in founders where try await c.cli(node).ok(["query", "--json", "SELECT name FROM facilities WHERE id = 'KR-F'"]).contains("stolen") == false {
                return false
            }
            return true
        }
        #expect(spread)
        // AU proposes the revocation, JP approves: 2 of the 3 active members (KR takes no part).
        let proposed = try json(try await c.cli("AU").ok(["member", "propose", "revoke", "KR", "--from-seq", "\(stolenSeq)", "--key", newKey,
                                                          "--reason", "KR's key was stolen", "--json"])) as? [String: Any]
        let id = try #require(proposed?["entry"] as? String)
        let proposalRef = EntryRef(origin: "AU", seq: try #require(EntryID(id)).seq, hash: [UInt8](hex: try #require(proposed?["hash"] as? String))!)
        // A forged approval, signed by a key of no member (as "CA"), reaches AU: quarantined, the proposal still pending.
        try await importBundle(c, into: "AU", [SignedEntry(
            signing: ChangeSet(origin: "CA", seq: 1, hlc: HLC(physicalMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000), logical: 0),
                               prevHash: [], deps: ["AU": proposalRef.seq], changes: [], formatVersion: 3, governance: .approval(proposalRef)),
            with: Curve25519.Signing.PrivateKey())], roster: replica.baseRoster)
        let stillPending = try await proposal(c, "AU", id)
        #expect(stillPending?["state"] as? String == "pending" && (stillPending?["approvals"] as? [String])?.count == 1, "\(stillPending ?? [:])")
        let forgedQuarantine = try json(try await c.cli("AU").ok(["quarantine", "--json"])) as? [String: Any]
        #expect("\(forgedQuarantine ?? [:])".contains("unknown-origin"))
        _ = try await waitFor("JP holds the revocation proposal") { try await proposal(c, "JP", id) != nil }
        try await c.cli("JP").ok(["member", "approve", id])
        let superseded = try await waitFor("the stolen entry is superseded on every node and KR-F has its name back", seconds: 30) {
            for node in founders {
                if try await proposal(c, node, id)?["state"] as? String != "decided" { return false }
                let name = try await c.cli(node).ok(["query", "--json", "SELECT name FROM facilities WHERE id = 'KR-F'"])
                if !name.contains("Ulsan") { return false }
            }
            return true
        }
        if !superseded { for node in founders { print("--- \(node)\n\(c.log(node))") } }
        #expect(superseded)
        let decided = try await proposal(c, "AU", id)
        #expect(decided?["state"] as? String == "decided", "\(decided ?? [:])")
        #expect((decided?["approvals"] as? [String])?.contains { $0.hasPrefix("KR") } == false)
        // A second approval by JP, signed with JP's key, reaches KR: quarantined (invalid-state), the approvals unchanged.
        let jpDir = try NodeDirectory.open(c.dir.file("JP"))
        let jpReplica = try jpDir.openReplica(writable: false)
        let jpHead = try jpReplica.versionVector()["JP"]
        let jpLast = try #require(try jpReplica.logEntry(EntryID(origin: "JP", seq: jpHead))).entry
        try await importBundle(c, into: "KR", [SignedEntry(
            signing: ChangeSet(origin: "JP", seq: jpHead + 1, hlc: HLC(physicalMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000), logical: 0),
                               prevHash: jpLast.hash, deps: ["AU": proposalRef.seq], changes: [], formatVersion: 3, governance: .approval(proposalRef)),
            with: try jpDir.loadKey().key)], roster: replica.baseRoster)
        let krQuarantine = try json(try await c.cli("KR").ok(["quarantine", "--json"])) as? [String: Any]
        #expect("\(krQuarantine ?? [:])".contains("already approved"), "\(krQuarantine ?? [:])")
        #expect((try await proposal(c, "KR", id))?["approvals"] as? [String] == decided?["approvals"] as? [String])
        let listed = try json(try await c.cli("JP").ok(["log", "list", "--origin", "KR", "--json"])) as? [[String: Any]]
        #expect(listed?.first { $0["entry"] as? String == "KR:\(stolenSeq)" }?["cut"] as? String != nil, "the stolen entry stays in the log as evidence")
        // KR's next write installs the pending key (the decision names it) and signs KR:stolenSeq again.
        try await c.cli("KR").ok(["facility", "update", "--id", "KR-F", "--name", "Ulsan port"])
        #expect(FileManager.default.fileExists(atPath: kr.keyPath + ".revoked"))
        let converged = try await waitFor("KR's new entry reaches everyone") {
            let names = try await c.cli("AU").ok(["query", "--json", "SELECT name FROM facilities WHERE id = 'KR-F'"])
            return try await c.digests().count == 1 && names.contains("Ulsan port")
        }
        if !converged {
            for node in founders {
                print("--- \(node)\n\(try await c.cli(node).ok(["log", "list", "--origin", "KR"]))\n\(try await c.cli(node).ok(["quarantine"]))")
                print(try await c.cli(node).ok(["digest"]))
                print(c.log(node))
            }
        }
        #expect(converged)
        // The audit trail: every node's log verifies, and AU's bundle lists the superseded entry and replays to AU's digest.
        for node in founders { try await c.cli(node).ok(["log", "verify"]) }
        let exported = c.dir.file("au.pxb")
        try await c.cli("AU").ok(["log", "export", "--out", exported])
        let verified = try await c.cli("AU").ok(["log", "verify", "--bundle", exported])
        #expect(verified.contains("KR:\(stolenSeq): superseded by the revocation by proposal \(id)"), "\(verified)")
        for node in founders { #expect(c.stop(node) == 0) }
    }

    @Test("JP forks at one seq (a restored backup): KR meets both branches and blocks JP; a resolution keeps branch B, AU and JP's own node supersede branch A, JP writes again")
    func resolveAnEquivocation() async throws {
        let founders = ["AU", "JP", "KR"]
        let (c, _) = try await founded(founders)
        try await waitForLocalWrites(c, "JP")
        try await c.cli("JP").ok(["facility", "create", "--id", "JP-F", "--name", "Kobe", "--kind", "port", "--country", "JP", "--lat", "1", "--lon", "1"])
        _ = try await waitFor("everyone holds JP's facility") {
            for node in founders where try await c.facilities(node) != 1 { return false }
            return true
        }
        // JP's node is stopped; a stale copy of JP writes JP:2 (branch B) that only KR receives,
        // while JP's node, started again, writes its own JP:2 (branch A) that reaches AU first.
        #expect(c.stop("JP") == 0)
        let jp = try NodeDirectory.open(c.dir.file("JP"))
        let replica = try jp.openReplica(writable: false)
        let head = try replica.versionVector()["JP"]
        let prev = try #require(try replica.logEntry(EntryID(origin: "JP", seq: head))).entry.hash
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let b = SignedEntry(signing: ChangeSet(origin: "JP", seq: head + 1, hlc: HLC(physicalMilliseconds: now, logical: 0), prevHash: prev,
                                               changes: [RowChange(table: "facilities", key: "JP-F", op: .update,
                                                                   fields: [FieldChange(name: "name", value: .text("Kobe (backup)"))])]),
                            with: try jp.loadKey().key)
        try await importBundle(c, into: "KR", [b], roster: replica.baseRoster)
        try await c.cli("JP").ok(["facility", "update", "--id", "JP-F", "--name", "Kobe (live)"])
        try c.start("JP")
        // KR meets branch A beside its B: JP is blocked there. AU and JP hold A only (peers whose
        // vectors agree send each other nothing), until the decision tells them which branch stands.
        let forked = try await waitFor("KR sees JP equivocating; AU holds branch A") {
            let s = try JSONDecoder().decode(NodeStatus.self, from: Data(try await c.cli("KR").ok(["status", "--json"]).utf8))
            let name = try await c.cli("AU").ok(["query", "--json", "SELECT name FROM facilities WHERE id = 'JP-F'"])
            return s.origins.first(where: { $0.origin == "JP" })?.state == "equivocating" && name.contains("Kobe (live)")
        }
        #expect(forked)
        let status = try await c.cli("KR").ok(["status"])
        #expect(status.contains("paxsync equivocation resolve JP:\(head + 1) --keep"), "\(status)")
        // AU proposes keeping branch B; KR approves (JP takes no part).
        let proposed = try json(try await c.cli("AU").ok(["equivocation", "resolve", "JP:\(head + 1)", "--keep", b.hash.hex,
                                                          "--reason", "JP restored a stale backup", "--json"])) as? [String: Any]
        let id = try #require(proposed?["entry"] as? String)
        _ = try await waitFor("KR holds the proposal") { try await proposal(c, "KR", id) != nil }
        try await c.cli("KR").ok(["member", "approve", id])
        let resolved = try await waitFor("JP writes on every node again, on branch B", seconds: 30) {
            for node in founders {
                let s = try JSONDecoder().decode(NodeStatus.self, from: Data(try await c.cli(node).ok(["status", "--json"]).utf8))
                if s.origins.first(where: { $0.origin == "JP" })?.state != "ok" { return false }
                let name = try await c.cli(node).ok(["query", "--json", "SELECT name FROM facilities WHERE id = 'JP-F'"])
                if !name.contains("Kobe (backup)") { return false }
            }
            return true
        }
        if !resolved { for node in founders { print("--- \(node)\n\(c.log(node))") } }
        #expect(resolved)
        try await c.cli("JP").ok(["facility", "update", "--id", "JP-F", "--name", "Kobe port"])
        let converged = try await waitFor("JP's next entry reaches everyone") {
            let names = try await c.cli("KR").ok(["query", "--json", "SELECT name FROM facilities WHERE id = 'JP-F'"])
            return try await c.digests().count == 1 && names.contains("Kobe port")
        }
        #expect(converged)
        let listed = try await c.cli("AU").ok(["log", "list", "--origin", "JP"])
        #expect(listed.contains("[superseded] facility update"), "\(listed)")
        for node in founders { try await c.cli(node).ok(["log", "verify"]) }
        for node in founders { #expect(c.stop(node) == 0) }
    }

    /// Writes `entries` to a bundle and imports it into `node` (entries no node's software would write).
    func importBundle(_ c: ServedCoalition, into node: String, _ entries: [SignedEntry], roster: Roster) async throws {
        let path = c.dir.file("hand-\(UUID().uuidString.prefix(8)).pxb")
        let writer = try BundleWriter(path: path, header: .init(exportedBy: node, exportedAtMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000),
                                                                roster: roster, entryCount: UInt64(entries.count)))
        for e in entries { try writer.append(e) }
        try writer.close()
        try await c.cli(node).ok(["log", "import", path, "--quiet"])
    }

    /// Founders with self-signed, pinned certificates who sign and adopt a genesis; their daemons started.
    func founded(_ founders: [String]) async throws -> (ServedCoalition, genesis: String) {
        let c = try await ServedCoalition(founders, tls: .selfSigned)
        let genesis = c.dir.file("genesis.json")
        try await c.cli(founders[0]).ok(["coalition", "init", "--out", genesis])
        for id in founders { try await c.cli(id).ok(["coalition", "sign", genesis]) }
        for id in founders { try await c.cli(id).ok(["coalition", "adopt", genesis]) }
        for id in founders { try c.start(id) }
        return (c, genesis)
    }

    /// A daemon pauses local writes at start until a peer confirms the head; wait for that.
    func waitForLocalWrites(_ c: ServedCoalition, _ node: String) async throws {
        _ = try await waitFor("\(node) may write") {
            let s = try JSONDecoder().decode(NodeStatus.self, from: Data(try await c.cli(node).ok(["status", "--json"]).utf8))
            return s.localWritesPaused == nil
        }
    }
}
