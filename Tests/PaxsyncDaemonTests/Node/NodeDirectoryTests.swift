import Foundation
import PaxsyncControl
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("Node directory")
struct NodeDirectoryTests {
    let dir = TemporaryDirectory()

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

    @Test("opening a data directory applies the environment's overrides")
    func openAppliesEnvironment() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("au")
        _ = try NodeDirectory.initialize(path: path, nodeID: "AU", country: "AU", name: "Australia",
                                         address: "127.0.0.1:7400", roster: nil)
        #expect(try NodeDirectory.open(path, environment: [:]).configuration.listen == "127.0.0.1:7400")
        let node = try NodeDirectory.open(path, environment: ["PAXSYNC_LISTEN": "127.0.0.1:7411", "PAXSYNC_ADMIN_SOCKET": "a.sock"])
        #expect(node.configuration.listen == "127.0.0.1:7411")
        #expect(node.file(node.configuration.adminSocket) == path + "/a.sock")
        #expect { try NodeDirectory.open(path, environment: ["PAXSYNC_LOG_LEVEL": "x"]) } throws: {
            ($0 as? PaxsyncError)?.subject == "PAXSYNC_LOG_LEVEL"
        }
    }
}
