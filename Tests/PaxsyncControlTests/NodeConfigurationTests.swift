import Foundation
import PaxsyncControl
import PaxsyncModel
import PaxsyncTestSupport
import Testing

@Suite("Node configuration (paxsync.conf, TOML, environment overrides)")
struct NodeConfigurationTests {
    /// The error `parse` throws for `text`, read as source `paxsync.conf`.
    func parseError(_ text: String) -> PaxsyncError? {
        do {
            _ = try NodeConfiguration.parse(text, source: "paxsync.conf")
            return nil
        } catch {
            return error
        }
    }

    @Test("the written configuration parses back to itself, every setting changed")
    func roundTrip() throws {
        var config = NodeConfiguration(nodeID: "KR")
        config.replicaFile = "db/r.sqlite"
        config.rosterFile = "r.json"
        config.keyFile = "k.key"
        config.maxClockSkewSeconds = 42
        config.listen = "10.1.2.3:7400"
        config.logLevel = "debug"
        config.tlsCertificate = "c.crt"
        config.tlsKey = "c.key"
        config.tlsCA = "ca.crt"
        config.peers = "AU,JP"
        config.adminSocket = "a.sock"
        config.metricsListen = "127.0.0.1:9464"
        config.handshakeTimeoutSeconds = 3
        config.maxPendingHandshakes = 40
        config.maxPendingHandshakesPerAddress = 2
        config.role = "standby"
        config.coalitionID = String(repeating: "0f", count: 32)
        config.genesisFile = "g.json"
        #expect(try NodeConfiguration.parse(config.fileContents, source: "c") == config)
        // The coalition id is a SHA-256 in lowercase hex, or nothing.
        let bad = config.fileContents.replacingOccurrences(of: config.coalitionID, with: String(repeating: "0F", count: 32))
        #expect(throws: PaxsyncError.self) { try NodeConfiguration.parse(bad, source: "c") }
        #expect(try NodeConfiguration.parse(NodeConfiguration(nodeID: "AU").fileContents, source: "c") == NodeConfiguration(nodeID: "AU"))
    }

    @Test("values holding quotes, backslashes, newlines and control characters are written escaped and read back as themselves")
    func escapedValues() throws {
        var config = NodeConfiguration(nodeID: "AU")
        config.replicaFile = "my \"replica\".sqlite"
        config.rosterFile = #"C:\paxsync\roster.json"#
        config.keyFile = "k\n# not a comment\nlisten = \"0.0.0.0:1\""
        config.tlsKey = "tab\there, bell\u{07}, delete\u{7F}, return\r"
        config.peers = "ÅLAND, 日本"
        let written = config.fileContents
        #expect(try NodeConfiguration.parse(written, source: "c") == config)
        // The newline in the value did not start a line of its own.
        #expect(!written.contains("\n# not a comment"))
        #expect(written.contains(#"key = "k\n# not a comment\nlisten = \"0.0.0.0:1\"""#))
    }

    @Test("Deploy/paxsync.conf.example parses and documents every setting")
    func example() throws {
        let root = packageRoot
        let text = try String(contentsOf: root.appendingPathComponent("Deploy/paxsync.conf.example"), encoding: .utf8)
        var expected = NodeConfiguration(nodeID: "AU")
        expected.listen = "0.0.0.0:7400"
        #expect(try NodeConfiguration.parse(text, source: "example") == expected)
        for line in NodeConfiguration(nodeID: "AU").fileContents.split(separator: "\n") where line.contains(" = ") && !line.hasPrefix("#") {
            let key = line.split(separator: " ")[0]
            #expect(text.contains("\n\(key) = "), "the example documents \(key)")
        }
    }

    @Test("a comment after a value is allowed, and quoted keys and literal strings are TOML")
    func trailingComments() throws {
        let text = """
            node_id = "JP"   # this node
            listen = "127.0.0.1:7401"  # comment
            max_clock_skew_seconds = 60 # a minute
            'log_level' = 'warning'
            peers = "AU, KR"#no space before the hash

            """
        var expected = NodeConfiguration(nodeID: "JP")
        expected.listen = "127.0.0.1:7401"
        expected.maxClockSkewSeconds = 60
        expected.logLevel = "warning"
        expected.peers = "AU, KR"
        #expect(try NodeConfiguration.parse(text, source: "c") == expected)
    }

    @Test("an unknown setting is refused, naming it, its line and the known ones")
    func unknownKey() {
        let error = parseError("node_id = \"AU\"\n\n# colour\ncolour = \"blue\"\n")
        #expect(error?.code == .badInput)
        #expect(error?.description == """
            paxsync.conf:4: unknown setting "colour"; known: node_id, coalition_id, genesis, replica, roster, key, max_clock_skew_seconds, \
            listen, log_level, tls_certificate, tls_key, tls_ca, peers, admin_socket, metrics_listen, role, \
            handshake_timeout_seconds, max_pending_handshakes, max_pending_handshakes_per_address
            """)
    }

    @Test("a value of the wrong type is refused, naming file, line and key", arguments: [
        ("node_id = \"AU\"\nmax_clock_skew_seconds = \"x\"\n", "paxsync.conf:2",
         "max_clock_skew_seconds must be a whole number of seconds, 0 or more (unquoted), not \"x\""),
        ("node_id = \"AU\"\nlisten = \"a\"\nmax_clock_skew_seconds = -5\n", "paxsync.conf:3",
         "max_clock_skew_seconds must be a whole number of seconds, 0 or more (unquoted), not -5"),
        ("node_id = \"AU\"\nmax_clock_skew_seconds = \"300\"\n", "paxsync.conf:2",
         "max_clock_skew_seconds must be a whole number of seconds, 0 or more (unquoted), not \"300\""),
        ("node_id = \"AU\"\nmax_clock_skew_seconds = 1.5\n", "paxsync.conf:2",
         "max_clock_skew_seconds must be a whole number of seconds, 0 or more (unquoted), not a floating-point number"),
        ("node_id = \"AU\"\n  listen = 7400\n", "paxsync.conf:2", "listen must be a string in double quotes, not 7400"),
        ("node_id = \"AU\"\npeers = [\"JP\"]\n", "paxsync.conf:2", "peers must be a string in double quotes, not an array"),
        ("node_id = \"AU\"\nlog_level = true\n", "paxsync.conf:2", "log_level must be a string in double quotes, not a bool"),
    ])
    func wrongType(text: String, subject: String, message: String) {
        let error = parseError(text)
        #expect(error?.code == .badInput)
        #expect(error?.subject == subject)
        #expect(error?.message == message)
    }

    @Test("an invalid value is refused with the line that sets it")
    func badLogLevel() {
        let text = NodeConfiguration(nodeID: "AU").fileContents.replacingOccurrences(of: "log_level = \"info\"", with: "log_level = \"verbose\"")
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("log_level") }! + 1
        #expect(line > 1)
        #expect(parseError(text)?.description
            == "paxsync.conf:\(line): log_level must be one of trace, debug, info, notice, warning, error, critical, not \"verbose\"")
        #expect(parseError("listen = \"x\"\nnode_id = \"au\"\n")?.description
            == "paxsync.conf:2: node_id must be a member id (2–16 uppercase letters or digits, like AU), not \"au\"")
        #expect(parseError("listen = \"x\"\n")?.description
            == "paxsync.conf: node_id is missing; it names this node, as listed in the roster")
    }

    @Test("TOML syntax errors name file, line and column", arguments: [
        ("node_id = \"AU\"\nlisten\n", "paxsync.conf:2:"),
        ("node_id = \"AU\"\n\nlisten = \"127.0.0.1:7400\n", "paxsync.conf:3:"),
        ("node_id = \"AU\"\nnode_id = \"JP\"\n", "paxsync.conf:2:"),
    ])
    func syntaxError(text: String, prefix: String) throws {
        let error = try #require(parseError(text))
        #expect(error.code == .badInput)
        #expect(error.message.hasPrefix("not valid TOML: "))
        let subject = try #require(error.subject)
        #expect(subject.hasPrefix(prefix))
        let column = Int(subject.dropFirst(prefix.count))
        #expect(column != nil && column! >= 1, "subject \(subject) ends in a column")
    }

    /// toml++ asserted (an abort in debug builds) on the first three before the
    /// check; fuzz-config found `[` alone, and `[` after a byte-order mark.
    @Test("a table header is refused with its line, before the TOML parser sees it", arguments: [
        ("[\n", 1), ("\u{FEFF}[\n", 1), ("node_id = \"AU\"\n[[\n", 2), ("node_id = \"AU\"\n\n  [#\n", 3), ("node_id = \"AU\"\n[node]\nlisten = \"x\"\n", 2),
    ])
    func tableHeader(text: String, line: Int) throws {
        let error = try #require(parseError(text))
        #expect(error.code == .badInput)
        #expect(error.subject?.hasPrefix("paxsync.conf:\(line):") == true, "\(error)")
        #expect(error.message.hasPrefix("paxsync.conf has no [sections]"))
    }

    /// fuzz-config found toml++ failing `!is_value_terminator(*cp)` in `parse_array`
    /// (an abort in release builds too) on `}` or a Unicode line break where an
    /// array expects a value.
    @Test("braces and Unicode line breaks outside strings are refused at their line and column", arguments: [
        ("x=[}", "paxsync.conf:1:4", "no tables"),
        ("node_id = \"AU\"\npeers = [\n  # a comment\n  }]\n", "paxsync.conf:4:3", "no tables"),
        ("node_id = \"AU\"\npeers = [\u{2028}]\n", "paxsync.conf:2:10", "U+2028"),
        ("node_id = \"AU\"\npeers = [\"JP\",\u{85}]\n", "paxsync.conf:2:15", "U+0085"),
        ("node_id = \"AU\" # a comment\u{2029}\n", "paxsync.conf:1:27", "U+2029"),
        ("node_id = \"AU\"\nlisten = { host = \"x\" }\n", "paxsync.conf:2:10", "no tables"),
        // Quotes just inside a multi-line string's closing delimiter, and an escaped
        // quote, do not open another string: the brace after is seen.
        ("listen = \"\"\"a\"\"\"\"\"\n}", "paxsync.conf:2:1", "no tables"),
        ("listen = '''a'''''\n}", "paxsync.conf:2:1", "no tables"),
        ("listen = \"a\\\"\"\n}", "paxsync.conf:2:1", "no tables"),
    ])
    func refusedBeforeTheParser(text: String, subject: String, mention: String) throws {
        let error = try #require(parseError(text))
        #expect(error.code == .badInput)
        #expect(error.subject == subject)
        #expect(error.message.contains(mention), "\(error)")
    }

    @Test("strings may hold brackets, braces and Unicode line breaks, and read back as written")
    func bracketsInStrings() throws {
        var config = NodeConfiguration(nodeID: "AU")
        config.replicaFile = "r[1]{x}\u{2028}\u{85}\"\"\"#'''.sqlite"
        config.rosterFile = "[roster]\n{json}"
        #expect(try NodeConfiguration.parse(config.fileContents, source: "paxsync.conf") == config)
        let text = """
            node_id = "AU"
            replica = '''
            [r]{1}\u{2028}.sqlite'''
            roster = \"\"\"
            [x]\\\"\"\"\"\"
            # [
            key = 'k}' # {
            """
        let parsed = try NodeConfiguration.parse(text, source: "paxsync.conf")
        #expect(parsed.replicaFile == "[r]{1}\u{2028}.sqlite")
        #expect(parsed.rosterFile == "[x]\"\"", "an escaped quote, then one just inside the delimiter")
        #expect(parsed.keyFile == "k}")
    }

    @Test("PAXSYNC_<KEY> variables override the file; other variables are ignored")
    func environmentOverride() throws {
        let file = NodeConfiguration(nodeID: "AU")
        let config = try file.applying(environment: [
            "PAXSYNC_LISTEN": "0.0.0.0:7999",
            "PAXSYNC_LOG_LEVEL": "debug",
            "PAXSYNC_METRICS_LISTEN": "127.0.0.1:9464",
            "PAXSYNC_MAX_CLOCK_SKEW_SECONDS": "7",
            "PAXSYNC_DATA_DIR": "/elsewhere",
            "PAXSYNC_SEED": "12345",
            "LISTEN": "1.2.3.4:1",
        ])
        var expected = file
        expected.listen = "0.0.0.0:7999"
        expected.logLevel = "debug"
        expected.metricsListen = "127.0.0.1:9464"
        expected.maxClockSkewSeconds = 7
        #expect(config == expected)
        #expect(try file.applying(environment: [:]) == file)
        #expect(NodeConfiguration.environmentVariable(for: "tls_ca") == "PAXSYNC_TLS_CA")
    }

    @Test("a bad override is refused naming the variable", arguments: [
        ("PAXSYNC_LOG_LEVEL", "loud", "log_level must be one of trace, debug, info, notice, warning, error, critical, not \"loud\""),
        ("PAXSYNC_MAX_CLOCK_SKEW_SECONDS", "-1", "max_clock_skew_seconds must be a whole number of seconds, 0 or more (unquoted), not -1"),
        ("PAXSYNC_HANDSHAKE_TIMEOUT_SECONDS", "0", "handshake_timeout_seconds must be a whole number of seconds, 1 or more (unquoted), not 0"),
        ("PAXSYNC_MAX_PENDING_HANDSHAKES_PER_ADDRESS", "0", "max_pending_handshakes_per_address must be a whole number, 1 or more (unquoted), not 0"),
        ("PAXSYNC_MAX_CLOCK_SKEW_SECONDS", "soon", "max_clock_skew_seconds must be a whole number of seconds, 0 or more (unquoted), not \"soon\""),
        ("PAXSYNC_NODE_ID", "x", "node_id must be a member id (2–16 uppercase letters or digits, like AU), not \"x\""),
        ("PAXSYNC_PEERS", "JP,\u{0}KR", "peers must not contain a NUL character (U+0000)"),
        ("PAXSYNC_ROLE", "backup", "role must be \"primary\" or \"standby\", not \"backup\""),
    ])
    func badEnvironmentValue(variable: String, value: String, message: String) {
        #expect {
            try NodeConfiguration(nodeID: "AU").applying(environment: [variable: value])
        } throws: { error in
            (error as? PaxsyncError)?.description == "\(variable): \(message)"
        }
    }
}
