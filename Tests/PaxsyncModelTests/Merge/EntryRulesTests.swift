import PaxsyncModel
import Testing

let members: Set<String> = ["AU", "JP", "KR"]

func changeSet(_ origin: String, seq: UInt64 = 1, deps: [String: UInt64] = [:], _ changes: [RowChange]) -> ChangeSet {
    ChangeSet(origin: origin, seq: seq, hlc: HLC(physicalMilliseconds: 100, logical: 0),
              prevHash: seq == 1 ? [] : Array(repeating: 7, count: 32), deps: deps, changes: changes)
}

func facilityCreate(_ id: String, country: String = "AU", lat: FieldValue = .real(-30)) -> RowChange {
    RowChange(table: "facilities", key: id, op: .create, fields: [
        FieldChange(name: "name", value: .text("Site")), FieldChange(name: "kind", value: .text("mine")),
        FieldChange(name: "country", value: .text(country)), FieldChange(name: "latitude", value: lat),
        FieldChange(name: "longitude", value: .real(120)),
    ])
}

/// A causal-past lookup over a fixed set of events per record.
func past(_ events: [String: [RecordEvent]], for cs: ChangeSet) -> CausalPastLookup {
    { (table, key) throws(PaxsyncError) in
        Merge.resolve(table: table, key: key, events: (events[key] ?? []).filter { cs.hasInCausalPast($0.entry) })
    }
}

@Suite("Entry rules: structure")
struct StructureTests {
    @Test("a well-formed facility creation passes")
    func valid() throws {
        try EntryRules.checkStructure(changeSet("AU", [facilityCreate("AU-SITE")]), members: members)
    }

    @Test("bad field values are refused, naming the entry, record and field", arguments: [
        (facilityCreate("AU-SITE", country: "XX"), "country"),
        (facilityCreate("AU-SITE", lat: .real(91)), "latitude"),
        (facilityCreate("AU-SITE", lat: .text("north")), "latitude"),
        (facilityCreate("SITE"), "key id"),
        (RowChange(table: "facilities", key: "AU-SITE", op: .update, fields: [FieldChange(name: "kind", value: .text("volcano"))]), "kind"),
        (RowChange(table: "stocks", key: "AU-SITE/Xx/oxide", op: .delete), "key mineral"),
        (RowChange(table: "stocks", key: "AU-SITE/Li/oxide", op: .update, fields: [FieldChange(name: "quantity_kg", value: .integer(-1))]), "quantity_kg"),
        (RowChange(table: "stocks", key: "AU-SITE/Li/oxide", op: .update, fields: [FieldChange(name: "as_of", value: .text("2026-02-30"))]), "as_of"),
        (RowChange(table: "stocks", key: "AU-SITE/Li/oxide", op: .update, fields: [FieldChange(name: "grade_pct", value: .real(100.5))]), "grade_pct"),
    ])
    func invalidFields(change: RowChange, field: String) {
        #expect {
            try EntryRules.checkStructure(changeSet("AU", [change]), members: members)
        } throws: { error in
            let e = error as! PaxsyncError
            return (e.code == .invalidField || e.code == .invalidKey) && e.description.contains("AU:1") && e.description.contains(field)
        }
    }

    @Test("malformed change sets are refused", arguments: [
        ("no changes", changeSet("AU", [])),
        ("unknown origin", changeSet("FR", [facilityCreate("FR-SITE", country: "FR")])),
        ("self dependency", changeSet("AU", deps: ["AU": 1], [facilityCreate("AU-SITE")])),
        ("unknown table", changeSet("AU", [RowChange(table: "mines", key: "x", op: .delete)])),
        ("same record twice", changeSet("AU", [facilityCreate("AU-SITE"), facilityCreate("AU-SITE")])),
        ("creation missing a field", changeSet("AU", [RowChange(table: "facilities", key: "AU-SITE", op: .create,
                                                                 fields: [FieldChange(name: "name", value: .text("x"))])])),
        ("adjusting a non-counter", changeSet("AU", [RowChange(table: "facilities", key: "AU-SITE", op: .adjust)])),
        ("zero adjustment", changeSet("AU", [RowChange(table: "reserve_pledges", key: "P/Li/AU", op: .adjust,
                                                       fields: [FieldChange(name: "share_kg", value: .integer(0))])])),
        ("updating the importer", changeSet("AU", [RowChange(table: "shipments", key: "AU-S1", op: .update,
                                                             fields: [FieldChange(name: "importer", value: .text("KR"))])])),
    ])
    func malformed(name: String, cs: ChangeSet) {
        #expect(throws: PaxsyncError.self, "\(name)") { try EntryRules.checkStructure(cs, members: members) }
    }

    @Test("a pledge is never created, updated or deleted: only adjusted (PROTOCOL.md §8.1)", arguments: [
        RowChange(table: "reserve_pledges", key: "P/Li/AU", op: .create, fields: [FieldChange(name: "share_kg", value: .integer(5))]),
        RowChange(table: "reserve_pledges", key: "P/Li/AU", op: .update, fields: [FieldChange(name: "share_kg", value: .integer(5))]),
        RowChange(table: "reserve_pledges", key: "P/Li/AU", op: .delete),
    ])
    func counterOps(change: RowChange) {
        #expect {
            try EntryRules.checkStructure(changeSet("AU", [change]), members: members)
        } throws: { error in
            let e = error as! PaxsyncError
            return e.code == .malformedEntry && e.description.contains("reserve_pledges is changed only by adjustments")
                && e.description.contains("AU:1")
        }
    }

    @Test("a shipment's facilities must belong to its exporter and importer")
    func shipmentFacilities() {
        let wrongFrom = RowChange(table: "shipments", key: "AU-S1", op: .create, fields: Event.createShipment().change.fields
            .map { $0.name == "from_facility" ? FieldChange(name: $0.name, value: .text("KR-X")) : $0 })
        let cs = changeSet("AU", [wrongFrom])
        #expect(throws: PaxsyncError.self) { try EntryRules.checkStructure(cs, members: members) }
        let wrongTo = RowChange(table: "shipments", key: "AU-S1", op: .create, fields: Event.createShipment().change.fields
            .map { $0.name == "to_facility" ? FieldChange(name: $0.name, value: .text("KR-X")) : $0 })
        #expect(throws: PaxsyncError.self) { try EntryRules.checkStructure(changeSet("AU", [wrongTo]), members: members) }
        let ok = RowChange(table: "shipments", key: "AU-S1", op: .create, fields: Event.createShipment().change.fields)
        #expect(throws: Never.self) { try EntryRules.checkStructure(changeSet("AU", [ok]), members: members) }
    }
}

@Suite("Entry rules: authorization and causal state")
struct AuthorizationTests {
    let created = ["AU-SHP-1": [Event.createShipment(at: 10)]]

    func update(_ origin: String, _ fields: [String: FieldValue], deps: [String: UInt64] = ["AU": 1], seq: UInt64 = 1) -> ChangeSet {
        changeSet(origin, seq: seq, deps: origin == "AU" ? [:] : deps, [
            RowChange(table: "shipments", key: "AU-SHP-1", op: .update,
                      fields: fields.sorted { $0.key < $1.key }.map { FieldChange(name: $0.key, value: $0.value) })])
    }

    func verdict(_ cs: ChangeSet, _ events: [String: [RecordEvent]]) -> PaxsyncError.Code? {
        do {
            try EntryRules.checkAuthorizationAndState(cs, past: past(events, for: cs))
            return nil
        } catch { return error.code }
    }

    @Test("only a facility's owner may create it")
    func facilityOwner() {
        #expect(verdict(changeSet("JP", [facilityCreate("AU-SITE")]), [:]) == .unauthorized)
        #expect(verdict(changeSet("AU", [facilityCreate("AU-SITE")]), [:]) == nil)
    }

    @Test("the importer may update the ETA and advance the status")
    func importerAllowed() {
        #expect(verdict(update("JP", ["eta": .text("2026-12-21T00:00:00Z"), "status": .text("arrived")]), created) == nil)
    }

    @Test("the importer may not cancel, nor set exporter fields")
    func importerLimits() {
        #expect(verdict(update("JP", ["status": .text("cancelled")]), created) == .unauthorized)
        #expect(verdict(update("JP", ["quantity_kg": .integer(5)]), created) == .unauthorized)
    }

    @Test("a third member may not touch the shipment")
    func thirdParty() {
        #expect(verdict(update("KR", ["eta": .text("2026-12-21T00:00:00Z")]), created) == .unauthorized)
    }

    @Test("an importer's update needs the creation in its causal past")
    func causalPast() {
        #expect(verdict(update("JP", ["eta": .text("2026-12-21T00:00:00Z")], deps: [:]), created) == .invalidState)
    }

    @Test("status may only move forward, and cancellation only before departure")
    func transitions() {
        let inTransit = ["AU-SHP-1": [Event.createShipment(at: 10),
                                      Event.make("AU", 2, at: 20, .update, ["status": .text("in_transit")])]]
        #expect(verdict(update("AU", ["status": .text("loading")], seq: 3), inTransit) == .invalidState)
        #expect(verdict(update("AU", ["status": .text("cancelled")], seq: 3), inTransit) == .invalidState)
        #expect(verdict(update("AU", ["status": .text("arrived")], seq: 3), inTransit) == nil)
        #expect(verdict(update("AU", ["status": .text("cancelled")], seq: 2), created) == nil)
    }

    @Test("a member adjusts only its own pledge, never below zero")
    func pledges() {
        func adjust(_ origin: String, _ member: String, _ delta: Int64, seq: UInt64 = 1) -> ChangeSet {
            changeSet(origin, seq: seq, [RowChange(table: "reserve_pledges", key: "P/Li/\(member)", op: .adjust,
                                                   fields: [FieldChange(name: "share_kg", value: .integer(delta))])])
        }
        let held = ["P/Li/AU": [Event.make("AU", 1, at: 10, .adjust, table: Schema.reservePledges, key: "P/Li/AU", ["share_kg": .integer(100)])]]
        #expect(verdict(adjust("JP", "AU", 10), held) == .unauthorized)
        #expect(verdict(adjust("AU", "AU", -100, seq: 2), held) == nil)
        #expect(verdict(adjust("AU", "AU", -101, seq: 2), held) == .invalidState)
    }

    @Test("updating or deleting a record that does not exist is refused; creating an existing one too")
    func existence() {
        #expect(verdict(update("AU", ["eta": .null]), [:]) == .invalidState)
        #expect(verdict(changeSet("AU", seq: 2, [RowChange(table: "shipments", key: "AU-SHP-1", op: .delete)]), [:]) == .invalidState)
        #expect(verdict(changeSet("AU", seq: 2, [RowChange(table: "shipments", key: "AU-SHP-1", op: .create,
                                                           fields: Event.createShipment().change.fields)]), created) == .invalidState)
    }
}

@Suite("State digest")
struct DigestTests {
    @Test("equal rows give equal digests; any change of value, type or order changes it")
    func sensitivity() {
        func digest(_ rows: [[FieldValue]], table: String = "t") -> String {
            var d = StateDigest()
            d.beginTable(table)
            for r in rows { d.addRow(r) }
            return d.finalize()
        }
        let base = digest([[.text("a"), .integer(1)], [.text("b"), .null]])
        #expect(base == digest([[.text("a"), .integer(1)], [.text("b"), .null]]))
        #expect(base != digest([[.text("a"), .integer(2)], [.text("b"), .null]]))
        #expect(base != digest([[.text("a"), .real(1)], [.text("b"), .null]]))
        #expect(base != digest([[.text("b"), .null], [.text("a"), .integer(1)]]))
        #expect(base != digest([[.text("a"), .integer(1)], [.text("b"), .text("")]]))
        #expect(base != digest([[.text("a"), .integer(1)], [.text("b"), .null]], table: "u"))
        #expect(base.count == 64)
    }
}
