import PaxsyncModel
import Testing

@Suite("Hybrid logical clock")
struct ClockTests {
    @Test("a tick follows physical time when it moves forward")
    func followsPhysicalTime() {
        var clock = HybridLogicalClock()
        #expect(clock.tick(now: 1000) == HLC(physicalMilliseconds: 1000, logical: 0))
        #expect(clock.tick(now: 2000) == HLC(physicalMilliseconds: 2000, logical: 0))
    }

    @Test("ticks within one millisecond, or with the clock stepping back, count logically")
    func logicalCounter() {
        var clock = HybridLogicalClock()
        let a = clock.tick(now: 1000)
        let b = clock.tick(now: 1000)
        let c = clock.tick(now: 900)
        #expect(a < b && b < c)
        #expect(c == HLC(physicalMilliseconds: 1000, logical: 2))
    }

    @Test("observing a later remote time makes the next tick later than it")
    func observe() {
        var clock = HybridLogicalClock()
        _ = clock.tick(now: 1000)
        let remote = HLC(physicalMilliseconds: 5000, logical: 7)
        clock.observe(remote)
        let next = clock.tick(now: 1001)
        #expect(next > remote)
        #expect(next == HLC(physicalMilliseconds: 5000, logical: 8))
    }

    @Test("logical counter overflow carries into the physical part")
    func overflow() {
        var clock = HybridLogicalClock(last: HLC(physicalMilliseconds: 10, logical: HLC.maxLogical))
        #expect(clock.tick(now: 5) == HLC(physicalMilliseconds: 11, logical: 0))
    }

    @Test("stamps order by time, then by origin bytes")
    func stampOrder() {
        let t = HLC(physicalMilliseconds: 1, logical: 0)
        #expect(Stamp(hlc: t, origin: "AU") < Stamp(hlc: t, origin: "JP"))
        #expect(Stamp(hlc: HLC(rawValue: t.rawValue + 1), origin: "AU") > Stamp(hlc: t, origin: "JP"))
    }

    @Test("entry ids parse ORIGIN:SEQ and refuse anything else", arguments: [
        ("AU:1", true), ("KR:123456", true), ("AU:0", false), ("au:1", false), ("AU", false), ("AU:x", false), ("A:1", false),
    ])
    func entryIDs(text: String, valid: Bool) {
        #expect((EntryID(text) != nil) == valid)
        if valid { #expect(EntryID(text)!.description == text) }
    }
}

@Suite("Civil time")
struct CivilTimeTests {
    @Test("dates are checked against the calendar", arguments: [
        ("2026-11-29", true), ("2024-02-29", true), ("2026-02-29", false), ("2026-13-01", false),
        ("2026-1-01", false), ("26-11-29", false), ("2026-04-31", false), ("1800-01-01", false),
    ])
    func dates(text: String, valid: Bool) {
        #expect((CivilTime.parseDate(text) != nil) == valid)
    }

    @Test("timestamps are UTC with whole seconds", arguments: [
        ("2026-11-29T04:56:36Z", true), ("2026-11-29T24:00:00Z", false), ("2026-11-29T04:56:36", false),
        ("2026-11-29 04:56:36Z", false), ("2026-11-29T04:60:00Z", false),
    ])
    func timestamps(text: String, valid: Bool) {
        #expect((CivilTime.parseTimestamp(text) != nil) == valid)
    }

    @Test("ISO-8601 formatting round-trips through parsing")
    func roundTrip() {
        #expect(CivilTime.iso8601(milliseconds: TestTimes.start) == "2026-11-29T00:00:00.000Z")
        #expect(CivilTime.parseInstant("2026-11-29T00:00:00.000Z") == TestTimes.start)
        #expect(CivilTime.parseInstant("2026-11-29") == TestTimes.start)
        #expect(CivilTime.parseInstant("2026-11-29T00:00:01Z") == TestTimes.start + 1000)
    }
}

enum TestTimes {
    static let start: UInt64 = 1_795_910_400_000
}

@Suite("Civil time parsing")
struct CivilTimeParsingTests {
    @Test("only ASCII digits are numbers: signs and other digits are refused, never a crash", arguments: [
        "2026-11-29T04:56:36.-12Z", "2026-11-29T04:56:36.+12Z", "2026-+1-29", "2026-11--1", "+026-11-29",
        "2026-11-29T+4:56:36Z", "2026-11-29T04:-6:36Z", "２０２６-11-29",
    ])
    func refused(text: String) {
        #expect(CivilTime.parseInstant(text) == nil)
    }

    @Test("well-formed instants still parse")
    func accepted() {
        #expect(CivilTime.parseInstant("2026-11-29T04:56:36.123Z") == CivilTime.parseInstant("2026-11-29T04:56:36Z")! + 123)
        #expect(CivilTime.parseDate("2026-11-29") != nil)
    }
}
