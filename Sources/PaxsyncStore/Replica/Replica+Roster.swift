import Foundation
import GRDB
import PaxsyncLog
import PaxsyncModel

extension Replica {
    /// What replacing the roster changed.
    public struct RosterChange: Sendable, Equatable {
        public var added: [String] = []
        public var removed: [String] = []
        /// Members whose address, name, country or TLS pin changed.
        public var changed: [String] = []
        /// Entries quarantined as `unknown-origin` that the new roster let through.
        public var released: [EntryID] = []
        public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
    }

    /// Replaces the roster entries are judged against, while the node runs.
    ///
    /// A member listed in both keeps its signing key (a key changes only by a
    /// rotation in the log, §3.4), and this node stays in it. Entries that were
    /// quarantined as `unknown-origin` because their origin was not in the roster
    /// are judged again for each member added (and applied if they hold).
    ///
    /// - Parameter source: Where the new roster came from, named in errors.
    public func updateRoster(_ new: Roster, source: String) throws -> RosterChange {
        try new.validate(source: source)
        guard new.member(nodeID) != nil else {
            throw PaxsyncError(.badInput, "the new roster does not list this node \(nodeID)", subject: source)
        }
        let old = members.withLock { $0.base }
        for member in new.members {
            if let was = old.member(member.id), was.signingKey != member.signingKey {
                throw PaxsyncError(.badInput, "the new roster lists \(member.id) with another signing key; a member's key changes "
                                   + "only by a rotation in the log (`paxsync key rotate`)", subject: source)
            }
        }
        var change = RosterChange()
        change.added = new.members.map(\.id).filter { old.member($0) == nil }
        change.removed = old.members.map(\.id).filter { new.member($0) == nil }
        change.changed = new.members.filter { m in old.member(m.id).map { $0 != m } ?? false }.map(\.id)
        let governance = governance
        members.withLock { $0 = Members(new, governance: governance) }
        // Without a genesis the roster's members are the founders: what each proposal's past decided may differ.
        // Without a genesis the roster's members are the founders: governance is decided again from them.
        defer {
            if configuration.founders == nil, !configuration.readOnly {
                governanceCache.withLock { $0.stateAt = [:] }
                let now = clock.nowMilliseconds()
                do { try writer.write { db in try refreshGovernance(db, now: now) } } catch {
                    logger.error("cannot re-decide governance after the roster changed", metadata: ["error": "\(error)"])
                }
            }
        }
        guard !change.added.isEmpty, !configuration.readOnly else { return change }
        let now = clock.nowMilliseconds()
        change.released = try writer.write { db in
            try change.added.flatMap { origin in try rejudgeUnknownOrigin(db, origin: origin, now: now) }
        }
        return change
    }
}
