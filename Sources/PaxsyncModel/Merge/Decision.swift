/// Which rule decided a field's value; shown by `paxsync explain`.
public enum Decision: String, Sendable, Codable {
    /// The only write, or the latest by stamp among writes that saw each other.
    case lastWriterWins = "last-writer-wins"
    /// The furthest status along planned → loading → in_transit → arrived → received.
    case furthestStatus = "furthest-status"
    /// A cancellation made before the goods departed.
    case cancelledBeforeDeparture = "cancelled-before-departure"
    /// Goods in transit or beyond: a concurrent cancellation no longer takes effect.
    case departureOverridesCancel = "departure-overrides-cancel"
    /// The sum of every adjustment.
    case counterSum = "counter-sum"
    /// An update the deleting origin had not seen loses to the delete.
    case deleteWins = "delete-wins"
}
