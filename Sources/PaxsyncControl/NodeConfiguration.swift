import Foundation
import PaxsyncModel
import TOMLKit

/// A node's settings, read from `paxsync.conf` in its data directory.
///
/// The file is TOML: lines of `key = value` (strings in double quotes, numbers
/// bare); `#` starts a comment, on its own line or after a value.
/// `Deploy/paxsync.conf.example` documents every key. Each key can be overridden
/// by an environment variable, `PAXSYNC_<KEY>` (see ``applying(environment:)``).
public struct NodeConfiguration: Sendable, Equatable {
    public var nodeID: String
    /// Replica database, relative to the data directory.
    public var replicaFile = "replica.sqlite"
    public var rosterFile = "roster.json"
    /// The coalition's signed genesis document, relative to the data directory.
    public var genesisFile = "genesis.json"
    /// SHA-256 of the coalition's genesis (64 lowercase hex digits), or "" for a
    /// node set up from a roster alone. Pinned: the daemon refuses to start if the
    /// genesis file has another id, and refuses peers that state another.
    public var coalitionID = ""
    public var keyFile = "node.key"
    /// Entries stamped further ahead of this node's clock are held until it catches up.
    public var maxClockSkewSeconds: UInt64 = 300
    /// `host:port` the node listens on for peers.
    public var listen = "127.0.0.1:7400"
    /// trace, debug, info, notice, warning, error or critical.
    public var logLevel = "info"
    /// The node's TLS certificate and key, and the coalition CA (PEM), from `paxsync ca issue`.
    public var tlsCertificate = "tls/node.crt"
    public var tlsKey = "tls/node.key"
    public var tlsCA = "tls/ca.crt"
    /// Roster members this node peers with: `*` for all, or ids separated by commas.
    public var peers = "*"
    /// The admin endpoint: a Unix socket (mode 0600) that `paxsync status` queries.
    public var adminSocket = "admin.sock"
    /// `host:port` of the Prometheus endpoint (`/metrics`); empty turns it off.
    public var metricsListen = ""
    /// "primary", or "standby": a second node of the same member that syncs
    /// everything, never writes or signs, and dials every peer (`paxsync promote`).
    public var role = "primary"
    public static let roles = ["primary", "standby"]
    public var isStandby: Bool { role == "standby" }
    /// Seconds an accepted peer connection may take to finish its TLS handshake.
    public var handshakeTimeoutSeconds = 10
    /// TLS handshakes in progress at once, in all and from one remote address.
    public var maxPendingHandshakes = 256
    public var maxPendingHandshakesPerAddress = 8

    public init(nodeID: String) { self.nodeID = nodeID }

    /// swift-log's levels, as `log_level` spells them.
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    static let keys = ["node_id", "coalition_id", "genesis", "replica", "roster", "key", "max_clock_skew_seconds", "listen", "log_level",
                       "tls_certificate", "tls_key", "tls_ca", "peers", "admin_socket", "metrics_listen", "role",
                       "handshake_timeout_seconds", "max_pending_handshakes", "max_pending_handshakes_per_address"]

    /// The file as `node init` writes it, every setting explained.
    public var fileContents: String {
        """
        # paxsync node configuration.
        # TOML: lines are `key = value`; strings in double quotes, numbers bare;
        # `#` starts a comment, on its own line or after a value.
        # Paths are relative to this file's directory (the data directory).
        # Each setting can be overridden by an environment variable named
        # PAXSYNC_ and the key in capitals: PAXSYNC_LISTEN, PAXSYNC_LOG_LEVEL, ...

        # This node's coalition member id, as listed in the roster.
        node_id = \(Self.quoted(nodeID))

        # The coalition this node belongs to: the SHA-256 of its signed genesis
        # document (kept in the file `genesis` names). The node states it to peers
        # and refuses peers that state another, or none. "" for a node set up from
        # a roster alone (`paxsync coalition adopt` migrates it).
        coalition_id = \(Self.quoted(coalitionID))
        genesis = \(Self.quoted(genesisFile))

        # The SQLite replica: shared records, the signed log of every origin, merge
        # metadata. An ordinary SQLite file: `sqlite3 FILE` opens it.
        replica = \(Self.quoted(replicaFile))

        # The coalition roster: members, countries, signing public keys, addresses.
        roster = \(Self.quoted(rosterFile))

        # This node's Ed25519 signing key (mode 0600). Never share or copy it.
        key = \(Self.quoted(keyFile))

        # Entries stamped further ahead of this node's clock than this many seconds
        # are held, not rejected, until the clock is within the bound.
        max_clock_skew_seconds = \(maxClockSkewSeconds)

        # Address this node listens on for peers (used by `paxsync serve`).
        listen = \(Self.quoted(listen))

        # Log level: trace, debug, info, notice, warning, error, critical.
        log_level = \(Self.quoted(logLevel))

        # Mutual TLS between nodes: this node's certificate and key (`paxsync ca
        # issue` or `paxsync tls create` writes them), and the coalition CA, which
        # vouches for members whose TLS key the roster does not pin (optional).
        tls_certificate = \(Self.quoted(tlsCertificate))
        tls_key = \(Self.quoted(tlsKey))
        tls_ca = \(Self.quoted(tlsCA))

        # Roster members to sync with: "*" for all, or ids separated by commas
        # ("JP,KR"). The node dials those whose id sorts after its own and accepts
        # sessions from all of them.
        peers = \(Self.quoted(peers))

        # The admin endpoint `paxsync status` and `paxsync peers` query while the
        # daemon runs: a Unix socket created with mode 0600 (owner only).
        admin_socket = \(Self.quoted(adminSocket))

        # Prometheus metrics at http://HOST:PORT/metrics; "" (the default) turns
        # them off. Keep it on loopback or a monitoring network.
        metrics_listen = \(Self.quoted(metricsListen))

        # "primary" (the default), or "standby": a second node of this member that
        # syncs everything from the peers but never writes or signs, ready to take
        # over; `paxsync promote` (daemon stopped) makes it the primary. Never run
        # two primaries of one member: both would sign, an equivocation.
        role = \(Self.quoted(role))

        # Connections that have not finished their TLS handshake: each is closed
        # after handshake_timeout_seconds; at most max_pending_handshakes are in
        # progress at once, and at most max_pending_handshakes_per_address from one
        # remote IP address (more are closed on accept), so a host that opens
        # connections and stalls cannot keep other peers out.
        handshake_timeout_seconds = \(handshakeTimeoutSeconds)
        max_pending_handshakes = \(maxPendingHandshakes)
        max_pending_handshakes_per_address = \(maxPendingHandshakesPerAddress)

        """
    }

    /// `text` as a TOML basic string: in double quotes, with `"`, `\\` and control
    /// characters escaped, so any value written reads back as itself.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16, uppercase: true)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Parses the file, which is TOML: top-level `key = value` settings, strings in
    /// double quotes, `max_clock_skew_seconds` a bare integer, `#` comments anywhere.
    ///
    /// Errors name the place: `FILE:LINE:COLUMN` for TOML syntax, `FILE:LINE` for a
    /// setting that is unknown, of the wrong type or invalid.
    public static func parse(_ text: String, source: String) throws(PaxsyncError) -> NodeConfiguration {
        try refuseWhatTheTOMLParserMustNotSee(text, source: source)
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let at = error.source.begin
            throw PaxsyncError(.badInput, "not valid TOML: \(error.description)", subject: "\(source):\(at.line):\(at.column)")
        } catch {
            throw PaxsyncError(.badInput, "not valid TOML", subject: source, underlying: error)
        }
        func place(_ key: String) -> String { line(of: key, in: text).map { "\(source):\($0)" } ?? source }

        guard let nodeID = table["node_id"] else {
            throw PaxsyncError(.badInput, "node_id is missing; it names this node, as listed in the roster", subject: source)
        }
        var config = NodeConfiguration(nodeID: "")
        do { try config.set("node_id", to: SettingValue(nodeID)) } catch { throw error.within(place("node_id")) }
        // In file order, so the first problem reported is the first in the file.
        // (Each key's line found once: the sort's comparisons would read the file again each time.)
        let lines = Dictionary(uniqueKeysWithValues: table.keys.map { ($0, line(of: $0, in: text) ?? .max) })
        for key in table.keys.sorted(by: { (lines[$0]!, $0) < (lines[$1]!, $1) }) where key != "node_id" {
            guard keys.contains(key) else {
                throw PaxsyncError(.badInput, "unknown setting \"\(key)\"; known: \(keys.joined(separator: ", "))", subject: place(key))
            }
            guard let value = table[key] else { continue }
            do { try config.set(key, to: SettingValue(value)) } catch { throw error.within(place(key)) }
        }
        return config
    }

    /// The environment variable that overrides `key`: `PAXSYNC_` and the key in capitals.
    public static func environmentVariable(for key: String) -> String { "PAXSYNC_" + key.uppercased() }

    /// This configuration with the settings that `environment` overrides: each key
    /// by `PAXSYNC_<KEY>` (`PAXSYNC_LISTEN`, `PAXSYNC_LOG_LEVEL`, ...), checked as
    /// the file's values are. Other variables are ignored (`PAXSYNC_DATA_DIR`
    /// names the data directory and is no setting).
    ///
    /// - Parameter environment: Variables and values, as `ProcessInfo` gives them.
    /// - Throws: A ``PaxsyncError`` whose subject is the variable with the bad value.
    public func applying(environment: [String: String]) throws(PaxsyncError) -> NodeConfiguration {
        var config = self
        for key in Self.keys {
            let variable = Self.environmentVariable(for: key)
            guard let text = environment[variable] else { continue }
            let value: SettingValue = Self.integerKeys.contains(key) ? Int(text).map(SettingValue.integer) ?? .string(text) : .string(text)
            do { try config.set(key, to: value) } catch { throw error.within(variable) }
        }
        return config
    }

    /// The settings that hold an integer; every other one holds a string.
    static let integerKeys: Set<String> = ["max_clock_skew_seconds", "handshake_timeout_seconds", "max_pending_handshakes",
                                           "max_pending_handshakes_per_address"]

    /// A setting's value as read, before it is checked.
    enum SettingValue: CustomStringConvertible {
        case string(String)
        case integer(Int)
        /// A TOML value of another type (boolean, float, date, array, table), by its type's name.
        case other(String)

        init(_ value: any TOMLValueConvertible) {
            switch value.type {
            case .string: self = .string(value.string ?? "")
            case .int: self = .integer(value.int ?? 0)
            default: self = .other(value.type.description)
            }
        }

        var description: String {
            switch self {
            case .string(let text): "\"\(text)\""
            case .integer(let number): "\(number)"
            case .other(let type): ("aeiou".contains(type.first ?? "x") ? "an " : "a ") + type
            }
        }
    }

    /// Checks `value` and sets `key` to it. A thrown error names the key, not where the value came from.
    mutating func set(_ key: String, to value: SettingValue) throws(PaxsyncError) {
        if Self.integerKeys.contains(key) {
            // The clock-skew bound may be 0; a timeout or a limit of 0 would refuse every peer.
            let least = key == "max_clock_skew_seconds" ? 0 : 1
            let unit = key.hasSuffix("_seconds") ? "a whole number of seconds" : "a whole number"
            guard case .integer(let number) = value, number >= least else {
                throw PaxsyncError(.badInput, "\(key) must be \(unit), \(least) or more (unquoted), not \(value)")
            }
            switch key {
            case "max_clock_skew_seconds": maxClockSkewSeconds = UInt64(number)
            case "handshake_timeout_seconds": handshakeTimeoutSeconds = number
            case "max_pending_handshakes": maxPendingHandshakes = number
            default: maxPendingHandshakesPerAddress = number
            }
            return
        }
        guard case .string(let text) = value else {
            throw PaxsyncError(.badInput, "\(key) must be a string in double quotes, not \(value)")
        }
        // No file name, address or id holds one, and C strings (the file system's,
        // TOMLKit's) would cut the value there.
        guard !text.unicodeScalars.contains("\u{0}") else {
            throw PaxsyncError(.badInput, "\(key) must not contain a NUL character (U+0000)")
        }
        switch key {
        case "node_id":
            guard Identifier.isValidMember(text) else {
                throw PaxsyncError(.badInput, "node_id must be a member id (2–16 uppercase letters or digits, like AU), not \(value)")
            }
            nodeID = text
        case "log_level":
            guard Self.logLevels.contains(text) else {
                throw PaxsyncError(.badInput, "log_level must be one of \(Self.logLevels.joined(separator: ", ")), not \(value)")
            }
            logLevel = text
        case "coalition_id":
            guard text.isEmpty || text.isLowercaseSHA256Hex else {
                throw PaxsyncError(.badInput, "coalition_id must be the SHA-256 of the genesis, 64 lowercase hex digits, or \"\", not \(value)")
            }
            coalitionID = text
        case "genesis": genesisFile = text
        case "replica": replicaFile = text
        case "roster": rosterFile = text
        case "key": keyFile = text
        case "listen": listen = text
        case "tls_certificate": tlsCertificate = text
        case "tls_key": tlsKey = text
        case "tls_ca": tlsCA = text
        case "peers": peers = text
        case "admin_socket": adminSocket = text
        case "metrics_listen": metricsListen = text
        case "role":
            guard Self.roles.contains(text) else {
                throw PaxsyncError(.badInput, "role must be \"primary\" or \"standby\", not \(value)")
            }
            role = text
        default:
            throw PaxsyncError(.badInput, "unknown setting \"\(key)\"; known: \(Self.keys.joined(separator: ", "))")
        }
    }

    /// Refuses, before toml++ (under TOMLKit) reads the file, the input on which it
    /// fails an assertion instead of reporting an error — an abort, in release builds
    /// too — none of which a paxsync.conf has a use for:
    /// - a table header (`[`, `[[`, `[#` with no key): no setting is in a section;
    /// - `{` or `}`: no setting is a table (an array holding `}` is the assertion
    ///   fuzz-config found in `parse_array`);
    /// - U+0085, U+2028 or U+2029 (Unicode line breaks that TOML does not have): the
    ///   same assertion, reached from an array.
    /// Strings are skipped as TOML reads them (basic and literal, one-line and
    /// multi-line, with escapes), so a value may hold any of these characters.
    /// Where this scan and toml++ could differ, the file is already invalid TOML and
    /// toml++ stops at its own error first.
    static func refuseWhatTheTOMLParserMustNotSee(_ text: String, source: String) throws(PaxsyncError) {
        let scalars = Array(text.unicodeScalars)
        // toml++ skips a byte-order mark at the start, so a table header may follow it.
        var index = scalars.first == "\u{FEFF}" ? 1 : 0, line = 1, column = 1
        var lineHasOnlyBlanks = true
        func advance(_ count: Int = 1) {
            for _ in 0..<count where index < scalars.count {
                if scalars[index] == "\n" { line += 1; column = 1; lineHasOnlyBlanks = true } else { column += 1 }
                index += 1
            }
        }
        func starts(with delimiter: Unicode.Scalar, times: Int) -> Bool {
            index + times <= scalars.count && scalars[index..<(index + times)].allSatisfy { $0 == delimiter }
        }
        func refuse(_ message: String) -> PaxsyncError {
            PaxsyncError(.badInput, message, subject: "\(source):\(line):\(column)")
        }
        while index < scalars.count {
            let scalar = scalars[index]
            switch scalar {
            case "#":
                // A comment, to the end of the line (toml++ ends it at any ASCII line break).
                while index < scalars.count, !["\n", "\r", "\u{0B}", "\u{0C}"].contains(scalars[index]) {
                    if [0x85, 0x2028, 0x2029].contains(scalars[index].value) { break }
                    advance()
                }
                continue
            case "\"", "'":
                let escapes = scalar == "\""
                if starts(with: scalar, times: 3) {
                    advance(3)
                    while index < scalars.count {
                        if escapes && scalars[index] == "\\" { advance(2); continue }
                        if starts(with: scalar, times: 3) {
                            // One or two quotes just inside the closing delimiter belong to the string.
                            var run = 0
                            while index + run < scalars.count && scalars[index + run] == scalar && run < 5 { run += 1 }
                            advance(run)
                            break
                        }
                        advance()
                    }
                } else {
                    advance()
                    while index < scalars.count, scalars[index] != scalar, scalars[index] != "\n" {
                        advance(escapes && scalars[index] == "\\" ? 2 : 1)
                    }
                    advance()
                }
                lineHasOnlyBlanks = false
                continue
            case "[" where lineHasOnlyBlanks:
                throw refuse("paxsync.conf has no [sections]: every setting is a top-level `key = value` line; "
                             + "remove the line that starts with \"[\"")
            case "{", "}":
                throw refuse("paxsync.conf has no tables: every setting is a string in double quotes or a number; "
                             + "remove the \"\(scalar)\"")
            case _ where [0x85, 0x2028, 0x2029].contains(scalar.value):
                throw refuse(String(format: "U+%04X, a Unicode line break, outside a string: TOML breaks lines with \\n "
                                    + "only; remove it", scalar.value))
            case " ", "\t", "\n":
                break
            default:
                lineHasOnlyBlanks = false
            }
            advance()
        }
    }

    /// The 1-based line of `text` that sets `key` (bare or quoted), for error
    /// messages; nil when no line does (the key came from a table or a dotted key).
    static func line(of key: String, in text: String) -> Int? {
        let forms = [key, "\"\(key)\"", "'\(key)'"]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.drop { $0 == " " || $0 == "\t" }
            for form in forms where line.hasPrefix(form) {
                let rest = line.dropFirst(form.count).drop { $0 == " " || $0 == "\t" }
                if rest.first == "=" || rest.first == "." { return index + 1 }
            }
        }
        return nil
    }

    /// The peer ids, given the roster's members.
    public func peerIDs(roster members: [String]) -> Set<String> {
        if peers.trimmingCharacters(in: .whitespaces) == "*" { return Set(members).subtracting([nodeID]) }
        return Set(peers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }
}
