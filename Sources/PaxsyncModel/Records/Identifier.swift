/// Rules for coalition member ids and record ids.
public enum Identifier {
    /// A member id: an uppercase letter then 1–15 uppercase letters or digits
    /// (`AU`, `SG`, `KR`). Founding members use their ISO 3166-1 alpha-2 code.
    public static func isValidMember(_ id: String) -> Bool {
        isValidMember(id.utf8)
    }

    static func isValidMember<S: Collection<UInt8>>(_ u: S) -> Bool {
        guard (2...16).contains(u.count), let first = u.first, first >= 65, first <= 90 else { return false }
        return u.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) }
    }

    /// A record id: 1–64 characters from `A–Z a–z 0–9 . _ -`, starting with a
    /// letter or digit. `/` is never allowed since it separates key parts.
    public static func isValidRecordID(_ id: String) -> Bool {
        let u = id.utf8
        guard (1...64).contains(u.count), let first = u.first else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        guard alnum(first) else { return false }
        return u.allSatisfy { alnum($0) || $0 == 46 || $0 == 95 || $0 == 45 }
    }

    /// The member a namespaced id belongs to: `AU` for `AU-MTWELD`, nil if the id
    /// has no `MEMBER-` prefix.
    public static func namespace(of id: String) -> String? {
        let u = id.utf8
        guard let dash = u.firstIndex(of: 45), u.index(after: dash) < u.endIndex, isValidMember(u[..<dash]) else { return nil }
        return String(id[..<dash])
    }
}
