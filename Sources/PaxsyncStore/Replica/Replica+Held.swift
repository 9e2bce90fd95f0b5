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
                    SELECT (hlc >> 16) - :skew AS t FROM paxsync_held WHERE reason_code = :code
                    UNION ALL
                    SELECT wait_until AS t FROM paxsync_held WHERE reason_code <> :code AND wait_until IS NOT NULL)
                """, arguments: ["skew": skew, "code": HoldReason.clockSkew.rawValue])
            return at.map { UInt64(max(0, $0)) }
        }
    }

    /// This replica's clock, in Unix milliseconds.
    public var nowMilliseconds: UInt64 { clock.nowMilliseconds() }
}

extension Replica {
    /// An origin's stored status; a value this version does not know (a replica
    /// written by a newer paxsync) is an error naming the origin, never read as `ok`.
    static func originStatus(_ raw: String, origin: String) throws(PaxsyncError) -> OriginStatus {
        guard let status = OriginStatus(rawValue: raw) else {
            throw PaxsyncError(.storage, "origin \(origin) has status \"\(raw)\", which this version of paxsync does not know; "
                               + "known: \(OriginStatus.allCases.map(\.rawValue).joined(separator: ", "))", subject: "origin \(origin)")
        }
        return status
    }

    /// A held entry's stored reason, read as `originStatus` is.
    static func holdReason(_ raw: String, entry: String) throws(PaxsyncError) -> HoldReason {
        guard let reason = HoldReason(rawValue: raw) else {
            throw PaxsyncError(.storage, "held entry \(entry) has reason \"\(raw)\", which this version of paxsync does not know",
                               subject: "entry \(entry)")
        }
        return reason
    }
}
