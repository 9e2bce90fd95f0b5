import Foundation
import PaxsyncModel
import PaxsyncTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Durability under kill -9")
struct CrashTests {
    @Test("every acknowledged write survives repeated kill -9 of writing processes; the log verifies; SQLite is intact")
    func killNine() async throws {
        let dir = TemporaryDirectory("paxsync-crash")
        let path = dir.file("au")
        let paxsync = Paxsync(dataDir: path)
        try await paxsync.ok(["node", "init", "--node-id", "AU", "--data-dir", path])
        try await paxsync.ok(["facility", "create", "--id", "AU-F", "--name", "F", "--kind", "mine", "--country", "AU", "--lat", "1", "--lon", "1"])

        var acknowledged: [String: String] = [:]   // stock key -> quantity the CLI reported committed
        var acks = 0
        var rng = SplitMix64(seed: UInt64.random(in: 1...1_000_000))
        print("crash test seed \(rng.state)")
        for round in 0..<12 {
            // A writer loop in its own process group; each ack line is printed only after the commit returned.
            let script = """
                i=0
                while [ $i -lt 200 ]; do
                  q=$(( \(round) * 1000 + i ))
                  "\(Paxsync.binary)" stock set --facility AU-F --mineral Li --form ore --quantity-kg $q --as-of 2026-11-29 >/dev/null && echo "ack Li/ore $q"
                  "\(Paxsync.binary)" stock set --facility AU-F --mineral Nd --form oxide --quantity-kg $q --as-of 2026-11-29 >/dev/null && echo "ack Nd/oxide $q"
                  i=$((i+1))
                done
                """
            let process = Process()
            // Foundation starts the child as its own process-group leader, so -pid kills the whole loop.
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", script]
            process.environment = paxsync.environment
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Suspends (not usleep): a blocked cooperative thread would starve the tests running beside this one.
            try await Task.sleep(for: .microseconds(150_000 + Int(rng.next() % 600_000)))
            #expect(kill(-process.processIdentifier, SIGKILL) == 0, "the writer's process group must be killed")
            process.waitUntilExit()
            let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
            acks += lines.count
            for line in lines {
                let parts = line.split(separator: " ")
                if parts.count == 3 { acknowledged[String(parts[1])] = String(parts[2]) }
            }
        }
        print("crash test: \(acks) acknowledged writes across 12 kill -9 rounds")
        try #require(!acknowledged.isEmpty, "no write was acknowledged before the kills")
        for (key, quantity) in acknowledged {
            let parts = key.split(separator: "/")
            let r = try await paxsync.ok(["query", "SELECT quantity_kg FROM stocks WHERE mineral = '\(parts[0])' AND form = '\(parts[1])'"])
            let stored = Int(r.split(separator: "\n")[1].trimmingCharacters(in: .whitespaces)) ?? -1
            // A write may land after its ack was lost to the kill, so the stored value is the acknowledged one or later.
            #expect(stored >= Int(quantity)!, "acknowledged \(key) = \(quantity), stored \(stored)")
        }
        #expect(try await paxsync.ok(["log", "verify", "--quiet"]).hasPrefix("OK"))
        let integrity = try await paxsync.ok(["query", "PRAGMA integrity_check"])
        #expect(integrity.contains("ok"))
        let replay = try await paxsync.ok(["replay", "--into", dir.file("r.sqlite"), "--quiet"])
        #expect(replay.contains("matches"))
    }
}
