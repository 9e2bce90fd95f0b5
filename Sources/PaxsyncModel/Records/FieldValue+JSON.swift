extension FieldValue: Encodable {
    /// As a JSON value: null, an integer, a real or a string (`paxsync query
    /// --json`, `paxsync feed --json`).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .integer(let number): try container.encode(number)
        case .real(let number): try container.encode(number)
        case .text(let text): try container.encode(text)
        }
    }
}
