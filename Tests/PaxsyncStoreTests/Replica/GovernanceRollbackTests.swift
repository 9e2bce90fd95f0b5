import Foundation
import GRDB
import PaxsyncModel
@testable import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("Governance state and rolled-back transactions")
struct GovernanceRollbackTests {
    struct Abort: Error {}

    @Test("a decision applied in a transaction that rolls back is not kept in memory; applied again, it is")
    func rollback() throws {
        let f = GovernanceFixture()
        let au = try f.founder("AU"), jp = try f.founder("JP"), kr = try f.founder("KR")
        let proposal = try au.propose(.admit(f.candidate), reason: "")
        for node in [jp, kr] {
            try node.apply(try au.allEntries())
            try node.approve(proposal.id)
        }
        try au.apply(try jp.allEntries())
        let deciding = try #require(try kr.allEntries().last)
        // KR's approval decides the admission inside a transaction that then fails.
        #expect(throws: Abort.self) {
            try au.writer.write { db in
                #expect(try au.applyOne(db, entry: deciding, now: TestTime.start, releaseHeld: true) == .applied)
                #expect(au.governance.members["CA"]?.status == .active, "decided within the transaction")
                throw Abort()
            }
        }
        #expect(au.governance.members["CA"] == nil && au.roster.member("CA") == nil, "the rollback took the decision back")
        #expect(try au.apply([deciding]) == [.applied])
        #expect(au.governance.members["CA"]?.status == .active && au.roster.member("CA") != nil)
    }
}
