extension FieldType {
    /// Checks one value against the type. Throws `invalidField` naming the problem.
    public func validate(_ value: FieldValue, field: String) throws(PaxsyncError) {
        func fail(_ why: String) -> PaxsyncError {
            PaxsyncError(.invalidField, "\(why) (got \(value.debugText))", subject: "field \(field)")
        }
        switch self {
        case .text(let maxLength):
            guard let s = value.text, !s.isEmpty else { throw fail("expected non-empty text") }
            // Counted in Unicode scalar values, not in grapheme clusters: "e" + U+0301 is two.
            let length = s.unicodeScalars.count
            guard length <= maxLength else {
                throw fail("text is \(length) Unicode scalar values long; at most \(maxLength) are allowed")
            }
            if let (offset, control) = s.unicodeScalars.enumerated().first(where: { FieldType.isControl($0.element) }) {
                throw fail("text contains the control character \(FieldType.codePoint(control)) at scalar \(offset + 1)")
            }
        case .integer(let range):
            guard let i = value.integer else { throw fail("expected an integer") }
            guard range.contains(i) else {
                throw fail(range.upperBound == .max ? "must be at least \(range.lowerBound)" : "must be within \(range.lowerBound)...\(range.upperBound)")
            }
        case .counter:
            guard value.integer != nil else { throw fail("expected an integer") }
        case .real(let range):
            guard let d = value.real, d.isFinite else { throw fail("expected a number") }
            guard range.contains(d) else { throw fail("must be within \(FieldValue.format(range.lowerBound))...\(FieldValue.format(range.upperBound))") }
        case .code(let codes):
            guard let s = value.text, codes.contains(s) else { throw fail("must be one of \(codes.joined(separator: ", "))") }
        case .mineral:
            guard let s = value.text, CodeLists.mineralCodes.contains(s) else {
                throw fail("unknown mineral code; see `paxsync codes minerals`")
            }
        case .country:
            guard let s = value.text, CodeLists.countries.contains(s) else { throw fail("not an ISO 3166-1 alpha-2 country code") }
        case .member:
            guard let s = value.text, Identifier.isValidMember(s) else { throw fail("not a member id (like AU)") }
        case .date:
            guard let s = value.text, CivilTime.parseDate(s) != nil else { throw fail("expected a date YYYY-MM-DD") }
        case .timestamp:
            guard let s = value.text, CivilTime.parseTimestamp(s) != nil else { throw fail("expected a UTC time YYYY-MM-DDTHH:MM:SSZ") }
        case .facilityID:
            guard let s = value.text, Identifier.isValidRecordID(s), Identifier.namespace(of: s) != nil else {
                throw fail("expected an id namespaced by its member, like AU-MTWELD")
            }
        case .recordID:
            guard let s = value.text, Identifier.isValidRecordID(s) else {
                throw fail("expected an id of letters, digits, '.', '_' or '-'")
            }
        }
    }

    /// Whether a scalar is a control character: Unicode general category Cc,
    /// U+0000–U+001F and U+007F–U+009F (PROTOCOL.md §6). The category is closed
    /// by Unicode's stability policy, so the two ranges are the whole of it.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value <= 0x1F || (0x7F...0x9F).contains(scalar.value)
    }

    /// `U+0085`: a scalar as named in messages.
    static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// Parses text as typed input (CSV cells, command-line values) into a value of this type.
    public func parse(_ text: String) -> FieldValue {
        switch self {
        case .integer, .counter:
            if let i = Int64(text) { return .integer(i) }
        case .real:
            if let d = Double(text) { return .real(d) }
        default: break
        }
        return .text(text)
    }
}

extension FieldValue {
    /// The value as shown inside error messages: text quoted, null as `null`.
    public var debugText: String {
        switch self {
        case .null: "null"
        case .text(let s): "\"\(s.count > 60 ? String(s.prefix(60)) + "…" : s)\""
        default: description
        }
    }
}

extension TableSpec {
    /// Splits and checks a canonical key (`AU-MTWELD/Li/concentrate`).
    public func parseKey(_ key: String) throws(PaxsyncError) -> [String] {
        var parts: [String] = []
        parts.reserveCapacity(self.key.count)
        var start = key.utf8.startIndex
        for i in key.utf8.indices where key.utf8[i] == 47 {
            parts.append(String(key[start..<i]))
            start = key.utf8.index(after: i)
        }
        parts.append(String(key[start...]))
        guard parts.count == self.key.count else {
            throw PaxsyncError(.invalidKey, "a \(name) key has \(self.key.count) part(s) separated by '/': \(self.key.map(\.name).joined(separator: "/"))",
                               subject: "\(name) \(key)")
        }
        for (part, column) in zip(parts, self.key) {
            do { try column.type.validate(.text(part), field: column.name) } catch {
                throw PaxsyncError(.invalidKey, error.message, subject: "\(name) \(key): key \(column.name)")
            }
        }
        return parts
    }

    /// Joins key parts into the canonical key.
    public func makeKey(_ parts: [String]) -> String { parts.joined(separator: "/") }

    /// The parts of a key already checked by `parseKey` (an entry's, once its
    /// structure was judged; a stored record's), split without checking them again.
    public func splitKey(_ key: String) -> [String] {
        key.utf8.split(separator: 47, omittingEmptySubsequences: false).map { String(Substring($0)) }
    }

    /// The member that owns the record: the namespace of its first key part
    /// (a facility's, a stock's facility's, a shipment's), or the member a key
    /// column names (a pledge's).
    public func owner(ofKeyParts parts: [String]) -> String {
        switch ownership {
        case .namespace: Identifier.namespace(of: parts[0]) ?? ""
        case .keyColumn(let column): key.firstIndex { $0.name == column }.map { parts[$0] } ?? ""
        }
    }

    /// The value of the derived column for a key.
    public func derivedValue(ofKeyParts parts: [String]) -> FieldValue? {
        derivedColumn == nil ? nil : .text(owner(ofKeyParts: parts))
    }
}
