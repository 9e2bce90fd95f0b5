/// Whether a replica accepts further entries of an origin (PROTOCOL.md,
/// "Verdicts"). Kept per origin in the replica; its raw values are stored and
/// shown by `paxsync status` and `paxsync quarantine`.
///
/// Transitions: `ok` → `quarantined` when an entry of the origin is quarantined
/// (later entries are held behind it); `ok` or `quarantined` → `equivocating`
/// when the origin is seen to sign two entries at one sequence number. Neither
/// blocked state is left automatically: an operator acts (PROTOCOL §12).
public enum OriginStatus: String, Sendable, Codable, CaseIterable {
    /// Entries are judged in order.
    case ok
    /// An entry of the origin was quarantined; later entries wait behind it.
    case quarantined
    /// The origin forked its log; no entries beyond the fork are accepted.
    case equivocating
}

/// Why an entry is held rather than judged: each names what releases it.
/// The raw values are stored in the replica (`paxsync_held.reason_code`).
public enum HoldReason: String, Sendable, Codable, CaseIterable {
    /// The entry declares a schema version this node does not implement; an upgrade releases it.
    case version
    /// An earlier entry of the same origin is missing; its arrival releases it.
    case gap
    /// An entry it depends on (`deps`) has not arrived; its arrival releases it.
    case dependency
    /// Stamped further ahead of this node's clock than the bound; time releases it.
    case clockSkew = "clock-skew"
    /// Its origin is blocked behind a quarantined entry (`OriginStatus.quarantined`).
    case originQuarantined = "quarantined"
    /// Its origin forked its log (`OriginStatus.equivocating`).
    case originEquivocating = "equivocating"

    /// The hold for entries of an origin in `status`; nil when the origin is `ok`.
    public init?(blocked status: OriginStatus) {
        switch status {
        case .ok: return nil
        case .quarantined: self = .originQuarantined
        case .equivocating: self = .originEquivocating
        }
    }
}
