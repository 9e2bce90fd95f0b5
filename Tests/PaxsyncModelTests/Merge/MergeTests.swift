import PaxsyncModel
import Testing

/// Builds record events by hand: `Event.make("AU", 1, at: 10, .create, ["eta": "…"])`.
enum Event {
    static func stamp(_ origin: String, _ t: UInt64) -> Stamp { Stamp(hlc: HLC(physicalMilliseconds: t, logical: 0), origin: origin) }

    static func make(_ origin: String, _ seq: UInt64, at t: UInt64, _ op: ChangeOp, table: TableSpec = Schema.shipments,
                     key: String = "AU-SHP-1", _ fields: [String: FieldValue] = [:], replaced: [String: (String, UInt64)] = [:],
                     recordReplaced: (String, UInt64)? = nil) -> RecordEvent {
        let changes = fields.sorted { $0.key < $1.key }.map { name, value in
            FieldChange(name: name, value: value, replaced: replaced[name].map { stamp($0.0, $0.1) })
        }
        return RecordEvent(entry: EntryID(origin: origin, seq: seq), stamp: stamp(origin, t),
                           change: RowChange(table: table.name, key: key, op: op, fields: changes,
                                             replaced: recordReplaced.map { stamp($0.0, $0.1) }))
    }

    /// A full shipment creation by AU at time `t`.
    static func createShipment(at t: UInt64 = 10, seq: UInt64 = 1, eta: String = "2026-12-20T00:00:00Z") -> RecordEvent {
        make("AU", seq, at: t, .create, [
            "mineral": .text("Nd"), "form": .text("oxide"), "quantity_kg": .integer(1000), "from_facility": .text("AU-A"),
            "to_facility": .text("JP-B"), "importer": .text("JP"), "carrier": .null, "departed_at": .null,
            "eta": .text(eta), "arrived_at": .null, "status": .text("planned")])
    }
}

/// Resolves in every order of `events` and checks the result never changes.
func resolveInAllOrders(_ events: [RecordEvent], table: TableSpec = Schema.shipments, key: String = "AU-SHP-1") -> ResolvedRecord {
    let first = Merge.resolve(table: table, key: key, events: events)
    for order in permutations(events) {
        let other = Merge.resolve(table: table, key: key, events: order)
        #expect(other.fields == first.fields)
        #expect(other.conflicts == first.conflicts)
        #expect(other.state == first.state)
    }
    return first
}

func permutations<T>(_ items: [T]) -> [[T]] {
    guard items.count > 1 else { return [items] }
    return items.indices.flatMap { i -> [[T]] in
        var rest = items
        let head = rest.remove(at: i)
        return permutations(rest).map { [head] + $0 }
    }
}

@Suite("Merge: last writer wins and conflicts")
struct LastWriterWinsTests {
    @Test("the later stamp wins; a write that saw the earlier one is no conflict")
    func sequentialWrites() {
        let create = Event.createShipment(at: 10)
        let later = Event.make("JP", 1, at: 20, .update, ["eta": .text("2026-12-25T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        let record = resolveInAllOrders([create, later])
        #expect(record.value("eta") == .text("2026-12-25T00:00:00Z"))
        #expect(record.fields["eta"]?.entry == EntryID(origin: "JP", seq: 1))
        #expect(record.fields["eta"]?.decision == .lastWriterWins)
        #expect(record.conflicts.isEmpty)
    }

    @Test("two writes that replaced the same value are concurrent: one conflict naming both values")
    func concurrentWrites() throws {
        let create = Event.createShipment(at: 10)
        let au = Event.make("AU", 2, at: 20, .update, ["eta": .text("2026-12-18T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        let jp = Event.make("JP", 1, at: 21, .update, ["eta": .text("2026-12-21T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        let record = resolveInAllOrders([create, au, jp])
        #expect(record.value("eta") == .text("2026-12-21T00:00:00Z"))
        try #require(record.conflicts.count == 1)
        let c = record.conflicts[0]
        #expect(c.field == "eta" && c.winner.entry == "JP:1" && c.loser.entry == "AU:2")
        #expect(c.winner.value == "2026-12-21T00:00:00Z" && c.loser.value == "2026-12-18T00:00:00Z")
    }

    @Test("equal clock times are broken by origin id")
    func tieBreak() {
        let create = Event.createShipment(at: 10)
        let au = Event.make("AU", 2, at: 20, .update, ["eta": .text("2026-12-22T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        let jp = Event.make("JP", 1, at: 20, .update, ["eta": .text("2026-12-21T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        let record = resolveInAllOrders([create, au, jp])
        #expect(record.value("eta") == .text("2026-12-21T00:00:00Z"), "JP > AU at equal time")
    }

    @Test("a later write made after seeing the winner settles the conflict")
    func settled() {
        let create = Event.createShipment(at: 10)
        let au = Event.make("AU", 2, at: 20, .update, ["eta": .text("2026-12-18T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        let jp = Event.make("JP", 1, at: 21, .update, ["eta": .text("2026-12-21T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        let settle = Event.make("AU", 3, at: 30, .update, ["eta": .text("2026-12-19T00:00:00Z")], replaced: ["eta": ("JP", 21)])
        let record = resolveInAllOrders([create, au, jp, settle])
        #expect(record.value("eta") == .text("2026-12-19T00:00:00Z"))
        #expect(record.conflicts.isEmpty)
    }

    @Test("a late write that did not see the winner keeps the conflict open")
    func notSettledByBlindWrite() {
        let create = Event.createShipment(at: 10)
        let au = Event.make("AU", 2, at: 20, .update, ["eta": .text("2026-12-18T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        let jp = Event.make("JP", 1, at: 30, .update, ["eta": .text("2026-12-21T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        let record = resolveInAllOrders([create, au, jp])
        #expect(record.conflicts.map(\.loser.entry) == ["AU:2"])
    }
}

@Suite("Merge: shipment status")
struct StatusMergeTests {
    let create = Event.createShipment(at: 10)

    func status(_ origin: String, _ seq: UInt64, at t: UInt64, _ value: String, saw: (String, UInt64)) -> RecordEvent {
        Event.make(origin, seq, at: t, .update, ["status": .text(value)], replaced: ["status": saw])
    }

    @Test("the furthest status wins whatever the stamps")
    func furthest() {
        let record = resolveInAllOrders([create, status("AU", 2, at: 30, "loading", saw: ("AU", 10)),
                                         status("JP", 1, at: 20, "arrived", saw: ("AU", 10))])
        #expect(record.value("status") == .text("arrived"))
        #expect(record.fields["status"]?.decision == .furthestStatus)
        #expect(record.conflicts.isEmpty, "concurrent progress is not a conflict")
    }

    @Test("a cancellation before departure wins over concurrent loading, with a conflict")
    func cancelBeforeDeparture() {
        let record = resolveInAllOrders([create, status("AU", 2, at: 20, "cancelled", saw: ("AU", 10)),
                                         status("JP", 1, at: 25, "loading", saw: ("AU", 10))])
        #expect(record.value("status") == .text("cancelled"))
        #expect(record.fields["status"]?.decision == .cancelledBeforeDeparture)
        #expect(record.conflicts.map(\.loser.value) == ["loading"])
    }

    @Test("goods in transit override a concurrent cancellation, with a conflict")
    func departureOverridesCancel() {
        let record = resolveInAllOrders([create, status("AU", 2, at: 30, "cancelled", saw: ("AU", 10)),
                                         status("JP", 1, at: 20, "in_transit", saw: ("AU", 10))])
        #expect(record.value("status") == .text("in_transit"))
        #expect(record.fields["status"]?.decision == .departureOverridesCancel)
        #expect(record.conflicts.count == 1)
        #expect(record.conflicts.first?.loser.value == "cancelled")
        #expect(record.conflicts.first?.decision == .departureOverridesCancel)
    }

    @Test("the field version is the highest stamp even when an older status wins")
    func version() {
        let record = resolveInAllOrders([create, status("JP", 1, at: 20, "arrived", saw: ("AU", 10)),
                                         status("AU", 2, at: 30, "loading", saw: ("AU", 10))])
        #expect(record.fields["status"]?.version == Event.stamp("AU", 30))
        #expect(record.fields["status"]?.entry == EntryID(origin: "JP", seq: 1))
    }
}

@Suite("Merge: deletes and counters")
struct DeleteAndCounterTests {
    @Test("a delete wins over a concurrent update, which becomes a conflict; the record stays deleted")
    func deleteWins() {
        let create = Event.createShipment(at: 10)
        let delete = Event.make("AU", 2, at: 20, .delete, recordReplaced: ("AU", 10))
        let update = Event.make("JP", 1, at: 25, .update, ["eta": .text("2026-12-21T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        let record = resolveInAllOrders([create, delete, update])
        #expect(record.state == .deleted)
        #expect(record.deletedBy == EntryID(origin: "AU", seq: 2))
        #expect(record.conflicts.count == 1)
        #expect(record.conflicts.first?.winner.deleted == true)
        #expect(record.conflicts.first?.decision == .deleteWins)
    }

    @Test("a re-creation after the delete brings the record back and settles the conflict")
    func recreate() {
        let create = Event.createShipment(at: 10)
        let delete = Event.make("AU", 2, at: 20, .delete, recordReplaced: ("AU", 10))
        let update = Event.make("JP", 1, at: 25, .update, ["eta": .text("2026-12-21T00:00:00Z")], replaced: ["eta": ("AU", 10)])
        let again = Event.createShipment(at: 40, seq: 3, eta: "2027-01-05T00:00:00Z")
        let record = resolveInAllOrders([create, delete, update, again])
        #expect(record.state == .live)
        #expect(record.value("eta") == .text("2027-01-05T00:00:00Z"))
        #expect(record.createdBy == EntryID(origin: "AU", seq: 1))
    }

    @Test("a counter is the sum of every adjustment, in any order")
    func counterSum() {
        let events = [
            Event.make("AU", 1, at: 10, .adjust, table: Schema.reservePledges, key: "P/Li/AU", ["share_kg": .integer(500)]),
            Event.make("AU", 2, at: 11, .adjust, table: Schema.reservePledges, key: "P/Li/AU", ["share_kg": .integer(-200)]),
            Event.make("AU", 3, at: 12, .adjust, table: Schema.reservePledges, key: "P/Li/AU", ["share_kg": .integer(50)]),
        ]
        let record = resolveInAllOrders(events, table: Schema.reservePledges, key: "P/Li/AU")
        #expect(record.value("share_kg") == .integer(350))
        #expect(record.fields["share_kg"]?.decision == .counterSum)
    }

    @Test("a pledge is live from its first adjustment, whatever the sum: one adjusted back to zero stays live at 0")
    func counterLiveness() {
        let key = "P/Li/AU"
        #expect(Merge.resolve(table: Schema.reservePledges, key: key, events: []).state == .absent)
        let events = [
            Event.make("AU", 1, at: 10, .adjust, table: Schema.reservePledges, key: key, ["share_kg": .integer(500)]),
            Event.make("AU", 2, at: 11, .adjust, table: Schema.reservePledges, key: key, ["share_kg": .integer(-500)]),
        ]
        let record = resolveInAllOrders(events, table: Schema.reservePledges, key: key)
        #expect(record.state == .live)
        #expect(record.value("share_kg") == .integer(0))
        #expect(record.createdBy == EntryID(origin: "AU", seq: 1), "created by the lowest-stamped adjustment")
        #expect(record.conflicts.isEmpty)
    }
}
