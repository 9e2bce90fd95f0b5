import PaxsyncModel

/// The admin socket's request framing: a client sends one command line (bytes up
/// to the first newline), the daemon answers and closes the connection.
///
/// Bytes arrive in whatever pieces the socket hands over; the outcome depends only
/// on the bytes, never on how they were split (the fuzz target `fuzz-admin` checks
/// this). A line is at most ``maxBytes`` bytes before its newline; a longer one is
/// refused as soon as it is known to be longer, without buffering more.
public struct AdminRequest: Sendable {
    /// The longest command line, in bytes, newline not counted.
    public static let maxBytes = 1024

    /// What the bytes so far amount to.
    public enum Outcome: Equatable, Sendable {
        /// No newline yet, and at most ``AdminRequest/maxBytes`` bytes: wait for more.
        case incomplete
        /// The command line, blanks (spaces, tabs, a carriage return) trimmed at both
        /// ends; bytes that are not UTF-8 are decoded as U+FFFD, so such a line is
        /// an unknown command, never a known one.
        case line(String)
        /// Over ``AdminRequest/maxBytes`` bytes without a newline: close unanswered.
        case tooLong
    }

    private var buffered: [UInt8] = []
    private var ended: Outcome?

    public init() {}

    /// Adds the next bytes received and says what the request is now. Once the
    /// outcome is a line or too long, it stays so whatever else arrives.
    public mutating func append(_ bytes: some Collection<UInt8>) -> Outcome {
        if let ended { return ended }
        let outcome: Outcome
        if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
            buffered += bytes[..<newline]
            outcome = buffered.count > Self.maxBytes ? .tooLong : .line(Self.trimmed(buffered))
        } else {
            buffered += bytes.prefix(Self.maxBytes + 1 - buffered.count)
            guard buffered.count > Self.maxBytes else { return .incomplete }
            outcome = .tooLong
        }
        buffered = []
        ended = outcome
        return outcome
    }

    static func trimmed(_ line: [UInt8]) -> String {
        let blanks: Set<UInt8> = [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r")]
        let start = line.firstIndex { !blanks.contains($0) } ?? line.endIndex
        let end = line.lastIndex { !blanks.contains($0) }.map { $0 + 1 } ?? start
        return String(decoding: line[start..<max(start, end)], as: UTF8.self)
    }
}

/// The commands the admin socket understands.
public enum AdminCommand: String, CaseIterable, Sendable {
    /// Answers the node's status as one JSON document.
    case status
    /// Tells the sessions the log grew (a CLI write), so they push now.
    case wake

    /// The command `line` names.
    ///
    /// - Throws: A ``PaxsyncError`` naming the unknown command (its first 40
    ///   characters) and the commands there are.
    public init(parsing line: String) throws(PaxsyncError) {
        guard let command = AdminCommand(rawValue: line) else {
            let known = Self.allCases.map(\.rawValue).joined(separator: " or ")
            throw PaxsyncError(.badInput, "unknown command \"\(line.prefix(40))\"; send \(known)", subject: "admin socket")
        }
        self = command
    }
}
