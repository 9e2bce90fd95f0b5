/// A field's value as stored in the replica and carried in change sets.
public enum FieldValue: Hashable, Sendable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    public var isNull: Bool { if case .null = self { true } else { false } }

    public var text: String? { if case .text(let s) = self { s } else { nil } }
    public var integer: Int64? { if case .integer(let i) = self { i } else { nil } }
    public var real: Double? {
        switch self {
        case .real(let d): d
        case .integer(let i): Double(i)
        default: nil
        }
    }

    /// The value as plain text: empty for null, as the CSV export writes it.
    public var description: String {
        switch self {
        case .null: ""
        case .integer(let i): String(i)
        case .real(let d): FieldValue.format(d)
        case .text(let s): s
        }
    }

    /// Shortest text that reads back as the same double (`12.5`, `-33.87`, `1e-07`).
    public static func format(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) + ".0" }
        return "\(d)"
    }
}
