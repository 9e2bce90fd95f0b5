import Clocks
@testable import PaxsyncNet
import PaxsyncSync
import Testing

/// The dialer's waits between sessions, on a test clock: no network, no real time.
@Suite("Redial backoff on a test clock")
struct RedialerTests {
    /// A random source that always draws the same word: 1 gives each wait its
    /// lower bound (half its ceiling), all ones its upper bound (the ceiling).
    /// (Not 0: the standard library rejects a zero draw for most ranges and draws again.)
    struct Constant: RandomNumberGenerator {
        let word: UInt64
        mutating func next() -> UInt64 { word }
    }

    struct DialFailed: Error {}

    /// Runs a redialer whose attempts fail at once (except where `lasting` says an
    /// attempt holds its session for that long) and returns the clock times, in
    /// milliseconds, at which the first `count` attempts began. The clock is an
    /// `ImmediateClock`: a sleep returns at once, having moved the clock by
    /// exactly what was asked, so every wait shows exactly.
    func attemptTimes(_ count: Int, random: Constant, lasting: [Int: Duration] = [:]) async -> [Int64] {
        let clock = ImmediateClock()
        let start = clock.now
        var times: [Int64] = []
        var redialer = Redialer(backoff: Backoff(), random: random, clock: AnyClock(clock))
        await redialer.run({
            let elapsed = start.duration(to: clock.now)
            times.append(elapsed.components.seconds * 1_000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            if times.count == count { throw CancellationError() }   // enough: ends the loop
            if let held = lasting[times.count] { try await clock.sleep(for: held) }
            throw DialFailed()
        }, ended: { _, _ in })
        return times
    }

    @Test("waits double from 100 ms up to 5 s; each is drawn between half its ceiling and the ceiling")
    func doubling() async throws {
        func gaps(_ t: [Int64]) -> [Int64] { zip(t.dropFirst(), t).map { $0 - $1 } }
        let ceilings: [Int64] = [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000]
        #expect(gaps(await attemptTimes(9, random: Constant(word: 1))) == ceilings.map { $0 / 2 })
        #expect(gaps(await attemptTimes(9, random: Constant(word: .max))) == ceilings)
    }

    @Test("a session that lasted more than 10 s got going: the next wait starts again from 100 ms")
    func resetsAfterALongSession() async throws {
        // Attempts 1–3 fail at once (waits 100, 200, 400); attempt 4 holds for 11 s.
        let t = await attemptTimes(6, random: Constant(word: .max), lasting: [4: .seconds(11)])
        let expected: [Int64] = [0, 100, 300, 700, 11_800, 12_000]
        #expect(t == expected)
    }
}
