import GRDB
import PaxsyncModel

extension Replica {
    /// When, on this replica's clock (Unix milliseconds), the earliest held entry
    /// may be released by time alone: a clock-skew hold once the clock is within
    /// the bound of its stamp, another hold once its `wait_until` passes. Nil when
    /// no hold waits on time (a gap or dependency is released by the entry it
    /// waits for, a version hold by an upgrade, both without a retry timer).
    public func nextHeldRelease() async throws -> UInt64? {
        let skew = Int64(configuration.maxClockSkewMilliseconds)
        return try await writer.read { db in
            let at = try Int64.fetchOne(db, sql: """
                SELECT MIN(t) FROM (
                    SELECT (hlc >> 16) - ? AS t FROM paxsync_held WHERE reason_code = 'clock-skew'
                    UNION ALL
                    SELECT wait_until AS t FROM paxsync_held WHERE reason_code <> 'clock-skew' AND wait_until IS NOT NULL)
                """, arguments: [skew])
            return at.map { UInt64(max(0, $0)) }
        }
    }

    /// This replica's clock, in Unix milliseconds.
    public var nowMilliseconds: UInt64 { clock.nowMilliseconds() }
}
