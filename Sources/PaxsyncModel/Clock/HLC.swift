import Synchronization
/// A hybrid-logical-clock time: physical milliseconds since the Unix epoch in
/// the high 48 bits, a logical counter in the low 16 bits.
///
/// Comparing raw values compares (physical, logical) lexicographically, which
/// is the order paxsync uses everywhere.
public struct HLC: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public static let zero = HLC(rawValue: 0)
    public static let logicalBits: UInt64 = 16
    public static let maxLogical: UInt64 = (1 << logicalBits) - 1

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(physicalMilliseconds: UInt64, logical: UInt64) {
        precondition(logical <= HLC.maxLogical, "HLC logical counter overflow")
        self.rawValue = (physicalMilliseconds << HLC.logicalBits) | logical
    }

    public var physicalMilliseconds: UInt64 { rawValue >> HLC.logicalBits }
    public var logical: UInt64 { rawValue & HLC.maxLogical }

    public static func < (lhs: HLC, rhs: HLC) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `1732861234567.3`: physical milliseconds and logical counter.
    public var description: String { "\(physicalMilliseconds).\(logical)" }

    /// The physical part as an ISO-8601 UTC timestamp with milliseconds.
    public var iso8601: String { CivilTime.iso8601(milliseconds: physicalMilliseconds) }
}

/// A source of physical time. Injected so merge and apply code never read the
/// system clock and tests control time.
public protocol PhysicalClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMilliseconds() -> UInt64
}

/// A clock whose time is set by hand, for tests and deterministic tools.
public final class ManualClock: PhysicalClock, Sendable {
    private let current: Mutex<UInt64>

    public init(milliseconds: UInt64) { self.current = Mutex(milliseconds) }

    public func nowMilliseconds() -> UInt64 { current.withLock { $0 } }
    public func set(_ milliseconds: UInt64) { current.withLock { $0 = milliseconds } }
    public func advance(by milliseconds: UInt64) { current.withLock { $0 += milliseconds } }
}

/// The state of one node's hybrid logical clock.
///
/// `tick` stamps a local write: strictly greater than every time this clock
/// has issued or observed. `observe` folds in the time of a received entry so
/// that later local writes are stamped after it.
public struct HybridLogicalClock: Sendable, Equatable {
    public private(set) var last: HLC

    public init(last: HLC = .zero) { self.last = last }

    /// The time for a new local event at physical time `now`.
    public mutating func tick(now: UInt64) -> HLC {
        if now > last.physicalMilliseconds {
            last = HLC(physicalMilliseconds: now, logical: 0)
        } else if last.logical < HLC.maxLogical {
            last = HLC(physicalMilliseconds: last.physicalMilliseconds, logical: last.logical + 1)
        } else {
            last = HLC(physicalMilliseconds: last.physicalMilliseconds + 1, logical: 0)
        }
        return last
    }

    /// Folds in a received time so later ticks are greater than it.
    public mutating func observe(_ remote: HLC) {
        if remote > last { last = remote }
    }
}
