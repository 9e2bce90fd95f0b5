import Crypto
import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

/// A fresh temporary directory, removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ prefix: String = "paxsync-test") {
        let base = (NSTemporaryDirectory() as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    deinit { if ProcessInfo.processInfo.environment["PAXSYNC_TEST_KEEP"] == nil { try? FileManager.default.removeItem(atPath: path) } }
}

/// Members with signing keys and their roster, for building nodes and entries in tests.
public struct TestCoalition: Sendable {
    public let ids: [String]
    public let keys: [String: NodeSigningKey]
    /// Tests may change it (pin a member's TLS key) before building replicas.
    public var roster: Roster

    /// `TestCoalition(["AU", "JP", "KR"])`. Keys are derived from `seed` so runs repeat.
    public init(_ ids: [String] = ["AU", "JP", "KR"], seed: UInt8 = 1) {
        self.ids = ids
        var keys: [String: NodeSigningKey] = [:]
        for (i, id) in ids.enumerated() {
            let raw = Array(SHA256.hash(data: Array("paxsync-test-key-\(seed)-\(id)".utf8) + [UInt8(i)]))
            keys[id] = NodeSigningKey(key: try! Curve25519.Signing.PrivateKey(rawRepresentation: raw))
        }
        self.keys = keys
        roster = Roster(coalition: "test coalition", members: ids.enumerated().map { i, id in
            RosterMember(id: id, country: CodeLists.countries.contains(id) ? id : "AU", name: "Member \(id)",
                         signingKey: keys[id]!.publicKeyBase64, address: "127.0.0.1:\(7500 + i)")
        })
    }

    /// A replica for `member` in `dir`, with a manual clock unless one is given.
    public func replica(_ member: String, in dir: TemporaryDirectory, clock: (any PhysicalClock)? = nil,
                        maxSkewMilliseconds: UInt64 = 5 * 60 * 1000) throws -> Replica {
        try Replica(path: dir.file("\(member)-\(UUID().uuidString.prefix(6)).sqlite"), nodeID: member, roster: roster,
                    signingKey: keys[member], clock: clock ?? ManualClock(milliseconds: TestTime.start),
                    configuration: ReplicaConfiguration(maxClockSkewMilliseconds: maxSkewMilliseconds))
    }

    /// Signs an arbitrary change set as `origin` (or with another member's key, to forge).
    public func sign(_ cs: ChangeSet, as signer: String? = nil) -> SignedEntry {
        SignedEntry(signing: cs, with: keys[signer ?? cs.origin]!.key)
    }
}

/// Fixed times for tests: 2026-11-29T00:00:00Z and offsets from it.
public enum TestTime {
    public static let start: UInt64 = 1_795_910_400_000
}

/// Intents for typical records, so tests read as what they do.
public enum Records {
    public static func facility(_ id: String, name: String = "Facility", kind: String = "mine", country: String = "AU",
                                lat: Double = -28.5, lon: Double = 122.5) -> WriteIntent {
        WriteIntent(table: Schema.facilities, keyParts: [id], kind: .create, values: [
            "name": .text(name), "kind": .text(kind), "country": .text(country), "latitude": .real(lat), "longitude": .real(lon)])
    }

    public static func update(_ table: TableSpec, _ keyParts: [String], _ values: [String: FieldValue]) -> WriteIntent {
        WriteIntent(table: table, keyParts: keyParts, kind: .update, values: values)
    }

    public static func stock(_ facility: String, _ mineral: String, _ form: String = "oxide", kg: Int64,
                             grade: Double? = 99.0, asOf: String = "2026-11-28") -> WriteIntent {
        WriteIntent(table: Schema.stocks, keyParts: [facility, mineral, form], kind: .upsert, values: [
            "quantity_kg": .integer(kg), "grade_pct": grade.map { .real($0) } ?? .null, "as_of": .text(asOf)])
    }

    public static func shipment(_ id: String, from: String, to: String, importer: String, kg: Int64 = 1000,
                                mineral: String = "Nd", eta: String? = "2026-12-20T00:00:00Z") -> WriteIntent {
        WriteIntent(table: Schema.shipments, keyParts: [id], kind: .create, values: [
            "mineral": .text(mineral), "form": .text("oxide"), "quantity_kg": .integer(kg), "from_facility": .text(from),
            "to_facility": .text(to), "importer": .text(importer), "carrier": .null, "departed_at": .null,
            "eta": eta.map { .text($0) } ?? .null, "arrived_at": .null, "status": .text("planned")])
    }

    public static func pledge(_ reserve: String, _ mineral: String, member: String, adjust: Int64) -> WriteIntent {
        WriteIntent(table: Schema.reservePledges, keyParts: [reserve, mineral, member], kind: .adjust,
                    values: ["share_kg": .integer(adjust)])
    }
}

extension Replica {
    /// Every logged entry, in log order, superseded ones too (§3.5): what a session relays.
    public func allEntries() throws -> [SignedEntry] {
        var out: [SignedEntry] = []
        try forEachLoggedEntry(includingSuperseded: true) { entry, _ in out.append(entry); return true }
        return out
    }

    /// The standing entries, in log order: one chain per origin.
    public func standingEntries() throws -> [SignedEntry] {
        var out: [SignedEntry] = []
        try forEachLoggedEntry { entry, _ in out.append(entry); return true }
        return out
    }
}
