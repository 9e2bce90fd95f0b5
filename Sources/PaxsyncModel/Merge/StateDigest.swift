import Crypto

/// Computes the state digest: SHA-256 over the shared records in canonical
/// order (PROTOCOL.md, "State digest"). Feed tables in `Schema.tables` order and
/// each table's rows sorted by key bytes; equal states give equal digests.
public struct StateDigest {
    private var hasher = SHA256()
    public private(set) var rows = 0

    public init() {
        hasher.update(data: Array("paxsync-state-v1".utf8) + [0])
    }

    public mutating func beginTable(_ name: String) {
        hasher.update(data: [UInt8(ascii: "T")] + Self.length(name.utf8.count) + Array(name.utf8))
    }

    /// One row: its values in `TableSpec.columns` order.
    public mutating func addRow(_ values: [FieldValue]) {
        var bytes: [UInt8] = [UInt8(ascii: "R")]
        for value in values {
            switch value {
            case .null:
                bytes.append(UInt8(ascii: "N"))
            case .integer(let i):
                bytes.append(UInt8(ascii: "I"))
                bytes += Self.bigEndian(UInt64(bitPattern: i))
            case .real(let d):
                bytes.append(UInt8(ascii: "F"))
                bytes += Self.bigEndian((d == 0 ? 0.0 : d).bitPattern)
            case .text(let s):
                bytes.append(UInt8(ascii: "S"))
                bytes += Self.length(s.utf8.count) + Array(s.utf8)
            }
        }
        hasher.update(data: bytes)
        rows += 1
    }

    public func finalize() -> String {
        hasher.finalize().map { String($0, radix: 16).leftPadded(2) }.joined()
    }

    static func length(_ n: Int) -> [UInt8] {
        let v = UInt32(n)
        return [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }

    static func bigEndian(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(v >> (56 - 8 * $0) & 0xFF) } }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
