import Foundation
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("Node directory and configuration")
struct NodeDirectoryTests {
    let dir = TemporaryDirectory()

    @Test("the written configuration parses back to itself")
    func roundTrip() throws {
        var config = NodeConfiguration(nodeID: "KR")
        config.maxClockSkewSeconds = 42
        config.listen = "10.1.2.3:7400"
        #expect(try NodeConfiguration.parse(config.fileContents, source: "c") == config)
    }

    @Test("Deploy/paxsync.conf.example parses and sets every setting")
    func example() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("Deploy/paxsync.conf.example"), encoding: .utf8)
        let config = try NodeConfiguration.parse(text, source: "example")
        #expect(config.nodeID == "AU" && config.listen == "0.0.0.0:7400")
        for line in NodeConfiguration(nodeID: "AU").fileContents.split(separator: "\n") where line.contains(" = ") && !line.hasPrefix("#") {
            let key = line.split(separator: " ")[0]
            #expect(text.contains("\n\(key) = "), "the example documents \(key)")
        }
    }

    @Test("configuration errors name the file and line", arguments: [
        ("node_id = \"AU\"\ncolour = \"blue\"\n", "c:2", "unknown setting"),
        ("node_id = \"AU\"\nlisten\n", "c:2", "key = value"),
        ("node_id = \"AU\"\nmax_clock_skew_seconds = soon\n", "c", "whole number"),
        ("listen = \"x\"\n", "c", "node_id"),
        ("node_id = \"AU\"\nlog_level = \"verbose\"\n", "c", "log_level must be one of trace, debug"),
    ])
    func errors(text: String, at: String, mention: String) {
        #expect { try NodeConfiguration.parse(text, source: "c") } throws: {
            "\($0)".hasPrefix(at) && "\($0)".contains(mention)
        }
    }

    @Test("init creates a usable node; opening refuses a key readable by others and a roster without the node")
    func initAndOpen() throws {
        let path = dir.file("au")
        let node = try NodeDirectory.initialize(path: path, nodeID: "AU", country: "AU", name: "Australia",
                                                address: "127.0.0.1:7400", roster: nil)
        let replica = try node.openReplica()
        try replica.commit([Records.facility("AU-X")])
        #expect(try replica.logCount() == 1)

        chmod(node.keyPath, 0o644)
        #expect { try NodeDirectory.open(path).openReplica() } throws: { "\($0)".contains("chmod 600") }
        chmod(node.keyPath, 0o600)

        let other = TestCoalition(["JP", "KR"])
        try other.roster.encoded().write(to: URL(fileURLWithPath: node.rosterPath))
        #expect { try NodeDirectory.open(path).openReplica() } throws: { "\($0)".contains("does not list this node AU") }
        #expect { try node.installRoster(other.roster, source: "r.json") } throws: { "\($0)".contains("must list AU") }
    }

    @Test("a replica refuses to open as another node")
    func wrongNode() throws {
        let coalition = TestCoalition()
        let path = dir.file("r.sqlite")
        _ = try Replica(path: path, nodeID: "AU", roster: coalition.roster)
        #expect { try Replica(path: path, nodeID: "JP", roster: coalition.roster) } throws: { "\($0)".contains("belongs to node AU") }
    }
}
