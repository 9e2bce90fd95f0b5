import Foundation
import PaxsyncDaemon
import PaxsyncModel
import PaxsyncTestSupport
import Testing

@Suite("Serve lock")
struct ServeLockTests {
    let dir = TemporaryDirectory("paxsync-serve-lock")

    @Test("one daemon per data directory: a second claim is refused naming the holder's pid; dropping the first frees it")
    func oneHolder() throws {
        let node = try NodeDirectory.initialize(path: dir.file("au"), nodeID: "AU", country: "AU", name: "Australia",
                                                address: "127.0.0.1:7400", roster: nil)
        var first: ServeLock? = try ServeLock(directory: node)
        #expect(try String(contentsOfFile: first!.path, encoding: .utf8) == "\(getpid())\n")
        // flock locks belong to the open file, so a second claim conflicts even from this process.
        do {
            _ = try ServeLock(directory: node)
            Issue.record("a second lock on the same data directory was granted")
        } catch let error as PaxsyncError {
            #expect(error.code == .unavailable)
            #expect(error.message == "another paxsync serve already runs for this data directory (pid \(getpid()) holds serve.lock)")
            #expect(error.subject == node.path)
        }
        withExtendedLifetime(first) {}
        first = nil
        // Released (as the kernel does when a daemon's process ends, however it ends).
        let again = try ServeLock(directory: node)
        withExtendedLifetime(again) {}
    }
}
