import Foundation
import PaxsyncTestSupport
import Testing

/// A data directory on a file system mounted read-only (a bind mount remounted
/// `ro`: what an operator's read-only remount, or a full disk turned read-only
/// by the kernel, leaves).
@Suite("A data directory on a read-only file system")
struct ReadOnlyDirectoryTests {
    static var canMount: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/mount")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/umount")
    }

    /// Runs `mount`/`umount` with `arguments`; true when it exited 0.
    @discardableResult
    static func mount(_ tool: String, _ arguments: [String]) throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/\(tool)")
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    @Test("read commands work on it; a write is refused naming the read-only file system, and nothing changes",
          .enabled(if: canMount, "needs root and mount(8) to remount a bind mount read-only"))
    func readCommands() async throws {
        let node = try CoalitionNode()
        let paxsync = node.paxsync
        try await paxsync.ok(["facility", "create", "--id", "AU-MTWELD", "--name", "Mount Weld", "--kind", "mine", "--country", "AU",
                              "--lat", "-28.86", "--lon", "122.55"])
        let digest = try await paxsync.ok(["digest"])

        try #require(try Self.mount("mount", ["--bind", node.path, node.path]), "bind mount failed")
        defer { _ = try? Self.mount("umount", [node.path]) }
        try #require(try Self.mount("mount", ["-o", "remount,bind,ro", node.path]), "read-only remount failed")
        #expect(access(node.path, W_OK) != 0 && errno == EROFS, "the directory is read-only now")

        #expect(try await paxsync.ok(["digest"]) == digest)
        #expect(try await paxsync.ok(["query", "SELECT id FROM facilities"]).contains("AU-MTWELD"))
        let status = try await paxsync.run(["status", "--json"])
        #expect(status.status == 0 && status.stdout.contains("\"daemonRunning\" : false"), "\(status.output)")
        let verify = try await paxsync.run(["log", "verify"])
        #expect(verify.status == 0, "\(verify.output)")

        let write = try await paxsync.run(["facility", "update", "--id", "AU-MTWELD", "--name", "Mt Weld"])
        #expect(write.status == 74, "\(write.output)")
        #expect(write.stderr.contains("the data directory is on a read-only file system, so this command cannot write the replica"),
                "\(write.output)")
        #expect(try await paxsync.ok(["digest"]) == digest)

        // The daemon cannot run there, and says why before it opens anything.
        let serve = try await paxsync.run(["serve", "--listen", "127.0.0.1:0"])
        #expect(serve.status == 74, "\(serve.output)")
        #expect(serve.stderr.contains("the data directory is on a read-only file system; paxsync serve writes its replica there"),
                "\(serve.output)")
    }
}
