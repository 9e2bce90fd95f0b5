/// Reconnection delays: exponential from `initial` to `maximum`, each drawn from the upper half of its ceiling.
public struct Backoff: Sendable {
    public var initialMilliseconds: UInt64
    public var maximumMilliseconds: UInt64
    public private(set) var attempt = 0

    /// Defaults suit a coalition of a few dozen nodes: a returning node is
    /// redialled within about five seconds.
    public init(initialMilliseconds: UInt64 = 100, maximumMilliseconds: UInt64 = 5_000) {
        self.initialMilliseconds = initialMilliseconds
        self.maximumMilliseconds = maximumMilliseconds
    }

    /// The next delay: uniformly random in [ceiling/2, ceiling], the ceiling doubling per attempt.
    public mutating func next<R: RandomNumberGenerator>(using rng: inout R) -> UInt64 {
        let ceiling = min(maximumMilliseconds, initialMilliseconds << UInt64(min(attempt, 20)))
        attempt += 1
        return ceiling / 2 + UInt64.random(in: 0...(ceiling / 2), using: &rng)
    }

    /// A session got going: start again from the initial delay next time.
    public mutating func reset() { attempt = 0 }
}
