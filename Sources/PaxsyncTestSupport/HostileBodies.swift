/// Entry bodies crafted the way an attacker with a valid coalition certificate
/// would send them: each must be refused as `malformed-entry`, never crash the
/// reader. Shared by the log, store, network and CLI tests.
public enum HostileBodies {
    /// A length-delimited field (the origin, field 2) whose length varint is
    /// 2^63: 11 bytes that killed a receiving daemon by integer overflow in a
    /// hand-written protobuf reader.
    public static let hugeLength: [UInt8] = [0x12] + [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]

    /// A plausible head (origin "AU", seq 7) followed by a changes field (8)
    /// whose length varint is 2^64 - 1.
    public static let hugeLengthAfterID: [UInt8] = [0x12, 0x02, 0x41, 0x55, 0x18, 0x07, 0x42]
        + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]

    /// A varint that never ends (eleven continuation bytes).
    public static let endlessVarint: [UInt8] = [0x18] + Array(repeating: 0xFF, count: 11)

    /// A valid head (origin "AU", seq 3), then a length running past the end.
    public static let truncated: [UInt8] = [0x12, 0x02, 0x41, 0x55, 0x18, 0x03, 0x42, 0x7F, 0x00]

    /// Every hostile body, named for test output.
    public static let all: [(name: String, body: [UInt8])] = [
        ("length varint 2^63", hugeLength),
        ("changes length 2^64-1 after a valid id", hugeLengthAfterID),
        ("endless varint", endlessVarint),
        ("length past the end", truncated),
    ]
}
