/// Calendar arithmetic for the proleptic Gregorian calendar in UTC, without
/// Foundation, so the pure core validates dates identically on every platform.
public enum CivilTime {
    public static func isLeap(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    public static func daysInMonth(_ year: Int, _ month: Int) -> Int {
        switch month {
        case 1, 3, 5, 7, 8, 10, 12: return 31
        case 4, 6, 9, 11: return 30
        case 2: return isLeap(year) ? 29 : 28
        default: return 0
        }
    }

    /// Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm).
    public static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    public static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// The value of a run of ASCII digits only (`Int` alone also takes a sign).
    static func digits<S: StringProtocol>(_ text: S) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(text)
    }

    /// Parses `YYYY-MM-DD` (years 1900–2999, ASCII digits only) into days since the epoch.
    public static func parseDate(_ text: String) -> Int? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = digits(parts[0]), let m = digits(parts[1]), let d = digits(parts[2]),
              (1900...2999).contains(y), (1...12).contains(m), d >= 1, d <= daysInMonth(y, m)
        else { return nil }
        return daysFromCivil(y, m, d)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds) into seconds since the epoch.
    public static func parseTimestamp(_ text: String) -> Int? {
        guard text.count == 20, text.hasSuffix("Z") else { return nil }
        let chars = Array(text)
        guard chars[10] == "T", chars[13] == ":", chars[16] == ":" else { return nil }
        guard let days = parseDate(String(chars[0..<10])),
              let hh = digits(String(chars[11..<13])), let mm = digits(String(chars[14..<16])),
              let ss = digits(String(chars[17..<19])),
              (0...23).contains(hh), (0...59).contains(mm), (0...59).contains(ss)
        else { return nil }
        return days * 86400 + hh * 3600 + mm * 60 + ss
    }

    /// `2026-11-29T04:56:36.123Z`.
    public static func iso8601(milliseconds: UInt64) -> String {
        let ms = Int(milliseconds % 1000)
        let seconds = Int(milliseconds / 1000)
        let (y, m, d) = civilFromDays(seconds / 86400)
        let rem = seconds % 86400
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        func three(_ v: Int) -> String { v < 10 ? "00\(v)" : v < 100 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))T\(two(rem / 3600)):\(two(rem % 3600 / 60)):\(two(rem % 60)).\(three(ms))Z"
    }

    /// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` or `…SS.mmmZ` into milliseconds since the epoch.
    public static func parseInstant(_ text: String) -> UInt64? {
        if let days = parseDate(text), days >= 0 { return UInt64(days) * 86_400_000 }
        if let s = parseTimestamp(text), s >= 0 { return UInt64(s) * 1000 }
        if text.count == 24, text.hasSuffix("Z") {
            let chars = Array(text)
            guard chars[19] == ".", let ms = digits(String(chars[20..<23])),
                  let s = parseTimestamp(String(chars[0..<19]) + "Z"), s >= 0 else { return nil }
            return UInt64(s) * 1000 + UInt64(ms)
        }
        return nil
    }
}
