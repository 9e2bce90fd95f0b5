import PaxsyncLog
import PaxsyncModel

/// Both signed entries of every equivocation a node detected, with the
/// roster's public keys: what a node hands the coalition to show that a member
/// signed two different entries at one place in its log.
///
/// Written as an ordinary bundle (`paxsync quarantine --evidence`), so anyone
/// can check both signatures with `paxsync log verify --bundle`.
public struct EquivocationEvidence: Sendable {
    /// One equivocation: two different, validly signed entries of one origin and sequence.
    public struct Pair: Sendable, Hashable {
        /// The entry this node had first (logged or held).
        public let first: SignedEntry
        /// The different entry that arrived later for the same origin and sequence.
        public let second: SignedEntry
    }

    /// The equivocations, by origin and sequence.
    public let pairs: [Pair]
    /// The bundle header: the exporting node, the time, the roster's keys and the entry count.
    public let header: BundleFormat.Header

    /// The entries in bundle order: each pair's first entry, then its second.
    public var entries: [SignedEntry] { pairs.flatMap { [$0.first, $0.second] } }
}

extension Replica {
    /// The evidence of every equivocation this node detected, ready to be
    /// written as a bundle.
    ///
    /// - Parameter now: The export time recorded in the header, milliseconds since the epoch.
    public func equivocationEvidence(exportedAt now: UInt64) throws -> EquivocationEvidence {
        let pairs = try equivocationEvidence().map { EquivocationEvidence.Pair(first: $0.0, second: $0.1) }
        let header = BundleFormat.Header(exportedBy: nodeID, exportedAtMilliseconds: now, roster: roster,
                                         entryCount: UInt64(pairs.count * 2))
        return EquivocationEvidence(pairs: pairs, header: header)
    }
}
