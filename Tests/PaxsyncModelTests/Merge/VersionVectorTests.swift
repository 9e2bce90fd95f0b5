import PaxsyncModel
import Testing

@Suite("Version vectors")
struct VersionVectorTests {
    @Test("absent origins are 0; zeros are dropped; advancing only raises")
    func basics() {
        var vv: VersionVector = ["AU": 3, "JP": 0]
        #expect(vv["JP"] == 0 && vv["KR"] == 0 && vv.count == 1)
        #expect(vv.advance("AU", to: 5) && vv["AU"] == 5)
        #expect(!vv.advance("AU", to: 4) && vv["AU"] == 5)
        #expect(vv.contains(EntryID(origin: "AU", seq: 5)) && !vv.contains(EntryID(origin: "AU", seq: 6)))
        #expect(!vv.contains(EntryID(origin: "KR", seq: 1)))
    }

    @Test("union is the pointwise maximum; lacks and beyond compare per origin")
    func compare() {
        var a: VersionVector = ["AU": 3, "JP": 7]
        let b: VersionVector = ["AU": 5, "KR": 2]
        #expect(a.lacksAny(of: b) && b.lacksAny(of: a))
        #expect(a.entries(beyond: b) == 7 && b.entries(beyond: a) == 2 + 2)
        a.formUnion(b)
        #expect(a == ["AU": 5, "JP": 7, "KR": 2])
        #expect(!a.lacksAny(of: b) && b.entries(beyond: a) == 0)
        #expect(a.sorted.map(\.origin) == ["AU", "JP", "KR"] && a.description == "AU:5,JP:7,KR:2")
    }
}
