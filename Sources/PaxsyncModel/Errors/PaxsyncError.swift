/// An error from paxsync that names what went wrong, what it concerns, and why.
///
/// Every failure an operator or auditor can meet is one of these: the `code`
/// is stable for scripts, the `message` is for people, and `subject` names the
/// node, peer, entry (`ORIGIN:SEQ`), record (`table KEY`) or input (`file:line`)
/// concerned.
public struct PaxsyncError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A stable, machine-readable error category.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A field value is out of range, malformed, or not in its code list.
        public static let invalidField = Code("invalid-field")
        /// A record key is malformed or does not match its table's key shape.
        public static let invalidKey = Code("invalid-key")
        /// A change set is malformed, of an unsupported version, or inconsistent.
        public static let malformedEntry = Code("malformed-entry")
        /// A signature does not verify against the origin's roster key.
        public static let badSignature = Code("bad-signature")
        /// The origin is not in the roster.
        public static let unknownOrigin = Code("unknown-origin")
        /// The entry's previous-hash does not match the origin's previous entry.
        public static let chainMismatch = Code("chain-mismatch")
        /// The origin may not write this record or field.
        public static let unauthorized = Code("unauthorized")
        /// The change does not fit the record's state in the entry's causal past.
        public static let invalidState = Code("invalid-state")
        /// A requested record, entry or file does not exist.
        public static let notFound = Code("not-found")
        /// A file (roster, key, config, bundle, CSV) could not be read or parsed.
        public static let badInput = Code("bad-input")
        /// Storage failed.
        public static let storage = Code("storage")
        /// Usage error: a wrong flag combination or argument.
        public static let usage = Code("usage")
        /// Something the command needs is not available: a listen address in
        /// use, no daemon answering where one is required.
        public static let unavailable = Code("unavailable")
        /// The account running the command may not do this (file permissions).
        public static let permission = Code("permission")
    }

    public var code: Code
    public var message: String
    /// What the error concerns: `AU:17`, `facilities AU-MTWELD`, `stocks.csv:12`, a node id.
    public var subject: String?
    /// The underlying cause, described.
    public var cause: String?
    /// The underlying error itself, when there is one (SQLite's, the file
    /// system's, the protobuf decoder's), for callers that inspect it.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, subject: String? = nil, cause: String? = nil) {
        self.code = code
        self.message = message
        self.subject = subject
        self.cause = cause
    }

    /// An error caused by `underlying`, which it keeps as a value and describes.
    public init(_ code: Code, _ message: String, subject: String? = nil, underlying: any Error) {
        self.init(code, message, subject: subject, cause: "\(underlying)")
        self.underlying = underlying
    }

    /// Equal when code, message, subject and cause are (the underlying error
    /// is compared by its description, which `cause` holds).
    public static func == (lhs: PaxsyncError, rhs: PaxsyncError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.subject == rhs.subject && lhs.cause == rhs.cause
    }

    public var description: String {
        var text = subject.map { "\($0): \(message)" } ?? message
        if let cause { text += " (\(cause))" }
        return text
    }

    /// The same error with a subject prefixed: `stocks.csv:12` + `field quantity_kg`.
    public func within(_ outer: String) -> PaxsyncError {
        var copy = self
        copy.subject = subject.map { "\(outer): \($0)" } ?? outer
        return copy
    }
}
