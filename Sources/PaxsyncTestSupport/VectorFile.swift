import Foundation

/// A committed test-vector file under `Protocol/` (test-vectors.json, sync-vectors.json, ...).
public enum VectorFile {
    /// Writes `made` to `url` (sorted keys, two-space indentation) when
    /// `PAXSYNC_WRITE_VECTORS=1` (regenerating, only when a format changes on
    /// purpose), then reads back and returns what is committed there, for the
    /// caller to compare with `made`.
    public static func committed<T: Codable>(_ made: T, at url: URL) throws -> T {
        if ProcessInfo.processInfo.environment["PAXSYNC_WRITE_VECTORS"] == "1" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try (encoder.encode(made) + Data("\n".utf8)).write(to: url)
        }
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }
}
