import Foundation
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

/// The checks a node makes on its own writes before signing them, driven by
/// the schema's table and field specs: references, defaults, field order,
/// status transitions and counters.
@Suite("Local write rules")
struct LocalWriteRulesTests {
    let coalition = TestCoalition()
    let dir = TemporaryDirectory()

    /// AU with a mine, JP with a port AU knows of.
    func nodes() throws -> Replica {
        let au = try coalition.replica("AU", in: dir)
        let jp = try coalition.replica("JP", in: dir)
        try jp.commit([Records.facility("JP-KOBE", kind: "port", country: "JP")])
        try au.apply(try jp.allEntries())
        try au.commit([Records.facility("AU-MTWELD")])
        return au
    }

    func refusal(_ body: () throws -> Void) -> PaxsyncError? {
        do { try body() } catch let error as PaxsyncError { return error } catch { return nil }
        return nil
    }

    @Test("a stock of a facility that does not exist is refused")
    func stockNeedsFacility() throws {
        let au = try nodes()
        let error = refusal { try au.commit([Records.stock("AU-NONE", "Li", kg: 5)]) }
        #expect(error?.code == .invalidState)
        #expect(error?.description == "stocks AU-NONE/Li/oxide: facility AU-NONE does not exist; create it first")
    }

    @Test("a shipment from or to a facility this replica does not hold is refused, naming the field")
    func shipmentNeedsFacilities() throws {
        let au = try nodes()
        let from = refusal { try au.commit([Records.shipment("AU-S1", from: "AU-NONE", to: "JP-KOBE", importer: "JP")]) }
        #expect(from?.code == .invalidField)
        #expect(from?.description == "shipments AU-S1: field from_facility: facility AU-NONE does not exist in this replica")
        let to = refusal { try au.commit([Records.shipment("AU-S1", from: "AU-MTWELD", to: "JP-OSAKA", importer: "JP")]) }
        #expect(to?.description == "shipments AU-S1: field to_facility: facility JP-OSAKA does not exist in this replica")
        try au.commit([Records.shipment("AU-S1", from: "AU-MTWELD", to: "JP-KOBE", importer: "JP")])
        let update = refusal { try au.commit([Records.update(Schema.shipments, ["AU-S1"], ["from_facility": .text("AU-GONE")])]) }
        #expect(update?.description == "shipments AU-S1: field from_facility: facility AU-GONE does not exist in this replica")
    }

    @Test("a facility with stock is not deleted until its stock is; one a shipment names is")
    func deleteRefusedWhileStocked() throws {
        let au = try nodes()
        try au.commit([Records.stock("AU-MTWELD", "Li", kg: 5), Records.stock("AU-MTWELD", "Nd", kg: 7)])
        let delete = WriteIntent(table: Schema.facilities, keyParts: ["AU-MTWELD"], kind: .delete)
        let error = refusal { try au.commit([delete]) }
        #expect(error?.code == .invalidState)
        #expect(error?.description == "facilities AU-MTWELD: has 2 stock record(s); delete them first (paxsync stock delete)")
        try au.commit([WriteIntent(table: Schema.stocks, keyParts: ["AU-MTWELD", "Li", "oxide"], kind: .delete),
                       WriteIntent(table: Schema.stocks, keyParts: ["AU-MTWELD", "Nd", "oxide"], kind: .delete)])
        try au.commit([Records.shipment("AU-S1", from: "AU-MTWELD", to: "JP-KOBE", importer: "JP")])
        try au.commit([delete])
        #expect(try au.query("SELECT COUNT(*) FROM facilities WHERE id = 'AU-MTWELD'").rows == [[.integer(0)]])
    }

    @Test("an arrival before the departure is refused, whether given together or against the record")
    func arrivalAfterDeparture() throws {
        let au = try nodes()
        try au.commit([Records.shipment("AU-S1", from: "AU-MTWELD", to: "JP-KOBE", importer: "JP")])
        let both = refusal { try au.commit([Records.update(Schema.shipments, ["AU-S1"], [
            "departed_at": .text("2026-12-02T00:00:00Z"), "arrived_at": .text("2026-12-01T00:00:00Z")])]) }
        #expect(both?.code == .invalidField)
        #expect(both?.description == "shipments AU-S1: field arrived_at: 2026-12-01T00:00:00Z is before departed_at 2026-12-02T00:00:00Z")
        try au.commit([Records.update(Schema.shipments, ["AU-S1"], ["departed_at": .text("2026-12-02T00:00:00Z")])])
        let later = refusal { try au.commit([Records.update(Schema.shipments, ["AU-S1"], ["arrived_at": .text("2026-12-01T12:00:00Z")])]) }
        #expect(later?.description == "shipments AU-S1: field arrived_at: 2026-12-01T12:00:00Z is before departed_at 2026-12-02T00:00:00Z")
        try au.commit([Records.update(Schema.shipments, ["AU-S1"], ["arrived_at": .text("2026-12-03T00:00:00Z")])])
    }

    @Test("a shipment status moves only forward, checked before signing")
    func statusForwardOnly() throws {
        let au = try nodes()
        try au.commit([Records.shipment("AU-S1", from: "AU-MTWELD", to: "JP-KOBE", importer: "JP")])
        try au.commit([Records.update(Schema.shipments, ["AU-S1"], ["status": .text("in_transit")])])
        let back = refusal { try au.commit([Records.update(Schema.shipments, ["AU-S1"], ["status": .text("loading")])]) }
        #expect(back?.code == .invalidState)
        #expect(back?.description.hasPrefix("shipments AU-S1: field status: in_transit → loading does not move forward") == true)
        #expect(try au.logCount() == 4)
    }

    @Test("a pledge never goes below zero: adjusted locally, or set by an import")
    func counterFloor() throws {
        let au = try nodes()
        try au.commit([Records.pledge("POOL", "Li", member: "AU", adjust: 5)])
        let error = refusal { try au.commit([Records.pledge("POOL", "Li", member: "AU", adjust: -9)]) }
        #expect(error?.code == .invalidState)
        #expect(error?.description == "reserve_pledges POOL/Li/AU: field share_kg: the share is 5 kg; adjusting by -9 would take it below zero")
        #expect { try CSVImport.intents(table: Schema.reservePledges, data: Data("reserve_id,mineral,share_kg\nPOOL,Nd,-1\n".utf8),
                                        source: "in.csv", nodeID: "AU") } throws: {
            "\($0)".hasPrefix("in.csv:2: column share_kg: ") && "\($0)".contains("may not be negative")
        }
    }

    @Test("a pledge adjusted or set out of 64-bit range is refused, naming the share, not a crash")
    func counterRange() throws {
        let au = try nodes()
        try au.commit([Records.pledge("POOL", "Li", member: "AU", adjust: 5)])
        let past = refusal { try au.commit([Records.pledge("POOL", "Li", member: "AU", adjust: .max)]) }
        #expect(past?.code == .invalidState)
        #expect(past?.description == "reserve_pledges POOL/Li/AU: field share_kg: the share is 5 kg; "
                + "adjusting by 9223372036854775807 would take it beyond 9223372036854775807")
        let set = WriteIntent(table: Schema.reservePledges, keyParts: ["POOL", "Li", "AU"], kind: .setCounter,
                              values: ["share_kg": .integer(.min)])
        let negative = refusal { try au.commit([set]) }
        #expect(negative?.code == .invalidState)
        #expect(negative?.description == "reserve_pledges POOL/Li/AU: field share_kg: the share cannot be set to -9223372036854775808 kg; "
                + "it may not be below zero")
        #expect(try au.logCount() == 3, "nothing written")
        #expect(try au.query("SELECT share_kg FROM reserve_pledges").rows == [[.integer(5)]])
    }

    @Test("an import names its own member in a pledge row that leaves the member out")
    func pledgeMemberDefaultsToImporter() throws {
        let intents = try CSVImport.intents(table: Schema.reservePledges, data: Data("reserve_id,mineral,member,share_kg\nPOOL,Li,,5\n".utf8),
                                            source: "in.csv", nodeID: "AU")
        #expect(intents.map(\.keyParts) == [["POOL", "Li", "AU"]])
    }

    @Test("an import trims spaces, tabs and other blanks around cells, and only around them")
    func importTrimsCells() throws {
        let pledges = "reserve_id, mineral ,member,share_kg\n POOL1\t,\u{00A0}Li\u{2003}, AU ,\t5 \nPOOL2,Nd,,7\n"
        let intents = try CSVImport.intents(table: Schema.reservePledges, data: Data(pledges.utf8), source: "in.csv", nodeID: "AU")
        #expect(intents.map(\.keyParts) == [["POOL1", "Li", "AU"], ["POOL2", "Nd", "AU"]])
        #expect(intents.map { $0.values["share_kg"] } == [.integer(5), .integer(7)])
        let facilities = "id,name,kind,country,latitude,longitude\n AU-X ,\tMount  Weld\u{00A0},mine , AU,-28.5 , 122.5\n"
        let facility = try CSVImport.intents(table: Schema.facilities, data: Data(facilities.utf8), source: "in.csv", nodeID: "AU")
        #expect(facility.first?.values["name"] == .text("Mount  Weld") && facility.first?.values["latitude"] == .real(-28.5))
    }

    @Test("a shipments import may leave status out, or empty: the record keeps its status")
    func importLeavesStatus() throws {
        let au = try nodes()
        try au.commit([Records.shipment("AU-S1", from: "AU-MTWELD", to: "JP-KOBE", importer: "JP")])
        try au.commit([Records.update(Schema.shipments, ["AU-S1"], ["status": .text("loading")])])
        for csv in ["id,mineral,form,quantity_kg,from_facility,to_facility,importer\nAU-S1,Nd,oxide,2000,AU-MTWELD,JP-KOBE,JP\n",
                    "id,mineral,form,quantity_kg,from_facility,to_facility,importer,status\nAU-S1,Nd,oxide,3000,AU-MTWELD,JP-KOBE,JP,\n"] {
            let intents = try CSVImport.intents(table: Schema.shipments, data: Data(csv.utf8), source: "in.csv", nodeID: "AU")
            #expect(intents.first?.values["status"] == nil)
            try au.commitBatches(intents, batchSize: 10)
        }
        #expect(try au.query("SELECT quantity_kg, status FROM shipments").rows == [[.integer(3000), .text("loading")]])
    }
}
