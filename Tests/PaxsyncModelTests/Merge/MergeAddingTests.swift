import PaxsyncModel
import Testing

/// `Merge.adding` must give exactly what `Merge.resolve` gives over the whole
/// history whenever it gives anything: the apply path materializes its result.
@Suite("Merge: adding one event to a merged record")
struct MergeAddingTests {
    /// Random histories of a shipment (status and last-writer-wins fields) and a
    /// stock: creations, updates that saw the current winners or stale ones,
    /// concurrent stamps, deletions and re-creations. At every step the next
    /// event is added both ways.
    @Test("equals a full resolve whenever it answers", arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func equalsResolve(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var answered = 0, declined = 0
        for table in [Schema.shipments, Schema.stocks] {
            let key = table.name == "shipments" ? "AU-SHP-1" : "AU-F1|Li|ore"
            for _ in 0..<40 {
                var history: [RecordEvent] = []
                var time: UInt64 = 100
                for step in 0..<30 {
                    let prior = Merge.resolve(table: table, key: key, events: history)
                    let event = Self.randomEvent(table: table, key: key, prior: prior, history: history, step: step,
                                                 time: &time, rng: &rng)
                    let whole = Merge.resolve(table: table, key: key, events: history + [event])
                    if let added = Merge.adding(event, to: history.isEmpty ? nil : prior, table: table, key: key, history: history) {
                        answered += 1
                        #expect(added.state == whole.state, "seed \(seed) step \(step)")
                        #expect(added.fields == whole.fields, "seed \(seed) step \(step)")
                        #expect(added.conflicts == whole.conflicts, "seed \(seed) step \(step)")
                        #expect(added.createdBy == whole.createdBy && added.deletedBy == whole.deletedBy)
                        #expect(added.version == whole.version, "seed \(seed) step \(step)")
                    } else {
                        declined += 1
                    }
                    history.append(event)
                }
            }
        }
        // Both kinds occur, so the comparison above is exercised and so is the fallback.
        #expect(answered > 200, "only \(answered) events took the incremental path")
        #expect(declined > 200, "only \(declined) events fell back to a full resolve")
    }

    @Test("declines a counter, a deletion, a stale write and a status field")
    func declines() {
        let create = Event.createShipment(at: 10)
        let prior = Merge.resolve(table: Schema.shipments, key: "AU-SHP-1", events: [create])
        let status = Event.make("AU", 2, at: 20, .update, ["status": .text("loading")], replaced: ["status": ("AU", 10)])
        #expect(Merge.adding(status, to: prior, table: Schema.shipments, key: "AU-SHP-1", history: [create]) == nil)
        let stale = Event.make("JP", 1, at: 20, .update, ["eta": .text("2026-12-25T00:00:00Z")])
        #expect(Merge.adding(stale, to: prior, table: Schema.shipments, key: "AU-SHP-1", history: [create]) == nil)
        let earlier = Event.make("JP", 1, at: 5, .update, ["eta": .text("2026-12-25T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        #expect(Merge.adding(earlier, to: prior, table: Schema.shipments, key: "AU-SHP-1", history: [create]) == nil)
        let delete = Event.make("AU", 2, at: 20, .delete, recordReplaced: ("AU", 10))
        #expect(Merge.adding(delete, to: prior, table: Schema.shipments, key: "AU-SHP-1", history: [create]) == nil)
        let eta = Event.make("AU", 2, at: 20, .update, ["eta": .text("2026-12-25T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        #expect(Merge.adding(eta, to: prior, table: Schema.shipments, key: "AU-SHP-1", history: [create])?.value("eta")
                == .text("2026-12-25T00:00:00Z"))
        let pledge = Event.make("AU", 1, at: 10, .adjust, table: Schema.reservePledges, key: "RES-1|Li|AU", ["share_kg": .integer(5)])
        #expect(Merge.adding(pledge, to: nil, table: Schema.reservePledges, key: "RES-1|Li|AU", history: []) == nil)
    }

    static let origins = ["AU", "JP", "KR"]

    static func randomEvent(table: TableSpec, key: String, prior: ResolvedRecord, history: [RecordEvent], step: Int,
                            time: inout UInt64, rng: inout SplitMix64) -> RecordEvent {
        let origin = origins.randomElement(using: &rng)!
        // Mostly later than everything, sometimes concurrent (earlier or equal physical time).
        let t: UInt64
        if Int.random(in: 0..<4, using: &rng) == 0 { t = time - UInt64.random(in: 0...20, using: &rng) } else {
            time += UInt64.random(in: 1...5, using: &rng)
            t = time
        }
        let seq = UInt64(step + 1)
        // Stamps are unique in a history (one origin never stamps two writes alike).
        let at = t * 64 + UInt64(step)
        func value(_ spec: FieldSpec) -> FieldValue {
            switch spec.name {
            case "status": .text(["planned", "loading", "in_transit", "arrived", "received", "cancelled"].randomElement(using: &rng)!)
            case "quantity_kg": .integer(Int64.random(in: 0...1000, using: &rng))
            case "grade_pct": Bool.random(using: &rng) ? .null : .real(Double(Int.random(in: 0...100, using: &rng)))
            default: .text("v\(Int.random(in: 0...9, using: &rng))")
            }
        }
        // Replaced stamps: the current winners (a write that saw everything), or stale.
        let fresh = Int.random(in: 0..<3, using: &rng) != 0
        func replaced(_ name: String) -> (String, UInt64)? {
            guard fresh, let winner = prior.fields[name] else { return nil }
            return (winner.stamp.origin, winner.stamp.hlc.physicalMilliseconds)
        }
        let roll = Int.random(in: 0..<10, using: &rng)
        if prior.state != .live || history.isEmpty || roll == 0 {
            if prior.state == .live && roll == 0 {
                let version = prior.version.map { ($0.origin, $0.hlc.physicalMilliseconds) }
                return Event.make(origin, seq, at: at, .delete, table: table, key: key, recordReplaced: fresh ? version : nil)
            }
            var fields: [String: FieldValue] = [:]
            var seen: [String: (String, UInt64)] = [:]
            for spec in table.fields {
                fields[spec.name] = spec.name == "status" ? .text("planned") : value(spec)
                seen[spec.name] = replaced(spec.name)
            }
            return Event.make(origin, seq, at: at, .create, table: table, key: key, fields, replaced: seen)
        }
        var fields: [String: FieldValue] = [:]
        var seen: [String: (String, UInt64)] = [:]
        for spec in table.fields.shuffled(using: &rng).prefix(Int.random(in: 1...2, using: &rng)) where !spec.immutable {
            fields[spec.name] = value(spec)
            seen[spec.name] = replaced(spec.name)
        }
        if fields.isEmpty, let spec = table.fields.first(where: { !$0.immutable }) {
            fields[spec.name] = value(spec)
            seen[spec.name] = replaced(spec.name)
        }
        return Event.make(origin, seq, at: at, .update, table: table, key: key, fields, replaced: seen)
    }
}
