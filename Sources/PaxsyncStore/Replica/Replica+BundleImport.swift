import PaxsyncLog
import PaxsyncModel

/// What importing a bundle came to: how many of its entries met each outcome of
/// the apply path, and how many held entries were released afterwards.
public struct ImportSummary: Sendable, Equatable {
    public var applied = 0
    public var duplicate = 0
    public var held = 0
    /// Entries rejected whole, including bytes that do not decode as an entry.
    public var quarantined = 0
    public var equivocation = 0
    /// Entries of a branch a decision superseded (§3.5), logged as evidence.
    public var superseded = 0
    /// Held entries (of this bundle or from before) that could be applied once it was in.
    public var released = 0

    public init() {}

    /// Every count with its name, in the order `paxsync log import` reports them.
    public var namedCounts: [(name: String, count: Int)] {
        [("applied", applied), ("duplicate", duplicate), ("held", held), ("quarantined", quarantined),
         ("equivocation", equivocation), ("superseded", superseded), ("released", released)]
    }

    mutating func count(_ outcome: ApplyOutcome) {
        switch outcome {
        case .applied: applied += 1
        case .duplicate: duplicate += 1
        case .held: held += 1
        case .quarantined: quarantined += 1
        case .equivocation: equivocation += 1
        case .superseded: superseded += 1
        }
    }
}

extension ImportSummary: Encodable {
    /// An object of the outcomes met at least once, and `released` always.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (name, count) in namedCounts where count > 0 || name == "released" {
            try container.encode(count, forKey: Key(name))
        }
    }

    struct Key: CodingKey {
        let stringValue: String
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}

extension Replica {
    /// Applies every entry of a bundle file, exchanging logs without a network.
    ///
    /// Each entry goes through the same checks as an entry from a peer: known
    /// ones are skipped, bad ones quarantined (bytes that do not decode too),
    /// early ones held. Entries are applied in batches, one transaction each.
    /// Afterwards, held entries that are now due (clock skew) are retried.
    ///
    /// - Parameters:
    ///   - path: The bundle file (`paxsync log export`).
    ///   - progress: Called with the entries read so far and the number the
    ///     bundle's header announces.
    public func importBundle(at path: String, progress: ((_ done: Int, _ total: Int?) -> Void)? = nil) throws -> ImportSummary {
        let reader = try BundleReader(path: path)
        let total = Int(reader.header.entryCount)
        var summary = ImportSummary()
        var batcher = ApplyBatcher(replica: self) { _, outcomes in
            for outcome in outcomes { summary.count(outcome) }
            progress?(reader.entriesRead, total)
        }
        while let (body, signature) = try reader.nextRaw() {
            let entry: SignedEntry
            do { entry = try SignedEntry(body: body, signature: signature) } catch {
                _ = try applyReceived(body: body, signature: signature)
                summary.quarantined += 1
                continue
            }
            try batcher.add(entry)
        }
        try batcher.flush()
        progress?(reader.entriesRead, total)
        summary.released = try retryHeld()
        return summary
    }
}
