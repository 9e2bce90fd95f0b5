import Foundation
import Logging
import PaxsyncControl
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore
import ServiceLifecycle
import Synchronization

/// The dialers of a running daemon, one per peer it dials, changed while it runs:
/// ``update(_:)`` starts dialers for new peers and cancels those of peers no
/// longer dialed (or whose address changed).
final class DialerSet: Service, Sendable {
    typealias Make = @Sendable (_ peer: String, _ address: String) throws -> PeerDialer
    private let make: Make
    private let logger: Logger
    private let (updates, continuation) = AsyncStream.makeStream(of: [String: String].self, bufferingPolicy: .bufferingNewest(1))

    /// `initial`: peer → address.
    init(initial: [String: String], logger: Logger, make: @escaping Make) {
        self.make = make
        self.logger = logger
        continuation.yield(initial)
    }

    /// The peers to dial now, and their addresses.
    func update(_ desired: [String: String]) { continuation.yield(desired) }

    private let running = Mutex<[String: (address: String, task: Task<Void, Never>)]>([:])

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await desired in self.updates { self.reconcile(desired) }
        }
        continuation.finish()
        let tasks = running.withLock { running in defer { running = [:] }; return running.values.map(\.task) }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    private func reconcile(_ desired: [String: String]) {
        let stale = running.withLock { running in
            let gone = running.filter { desired[$0.key] != $0.value.address }
            for peer in gone.keys { running[peer] = nil }
            return gone
        }
        for (peer, dialer) in stale {
            dialer.task.cancel()
            logger.info("stopped dialing a peer the roster no longer lists here", metadata: ["peer": "\(peer)"])
        }
        for (peer, address) in desired.sorted(by: { $0.key < $1.key }) where running.withLock({ $0[peer] == nil }) {
            do {
                let dialer = try make(peer, address)
                let task = Task<Void, Never> { _ = try? await dialer.dialUntilCancelled() }
                running.withLock { $0[peer] = (address, task) }
            } catch {
                logger.warning("cannot dial a peer", metadata: ["peer": "\(peer)", "address": "\(address)", "error": "\(error)"])
            }
        }
    }
}

/// Follows roster.json while the daemon runs: when the file changes (checked
/// every second), the new roster is validated and installed in the replica, the
/// sessions are closed (they reconnect at once, judged by the new roster's pins
/// and members), and dialers are started or stopped for the peers it adds or
/// removes. A roster that does not load is logged and ignored: the node keeps
/// the one it has.
struct RosterFollower: Service {
    let directory: NodeDirectory
    let replica: Replica
    let registry: PeerRegistry
    let dialers: DialerSet
    /// The peers this node dials for a roster: peer → address.
    let dialed: @Sendable (Roster) -> [String: String]
    let logger: Logger
    var interval: Duration = .seconds(1)

    /// The file's identity and modification time: a change of either is a new roster.
    static func stamp(_ path: String) -> [Int]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [Int(info.st_ino), Int(info.st_size), Int(info.st_mtim.tv_sec), Int(info.st_mtim.tv_nsec)]
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var seen = Self.stamp(directory.rosterPath)
            var governed = replica.roster
            var superseded = (try? replica.supersededCount()) ?? 0
            while !Task.isCancelled {
                do { try await Task.sleep(for: interval) } catch { return }
                followGovernance(&governed)
                followSupersessions(&superseded)
                let now = Self.stamp(directory.rosterPath)
                guard now != seen else { continue }
                seen = now
                reload()
                governed = replica.roster
            }
        }
    }

    /// Follows governance decisions (§3.5), whether applied from a peer or written
    /// by the CLI: members admitted are dialed, suspended or removed ones have
    /// their sessions closed and are no longer dialed or accepted.
    func followGovernance(_ last: inout Roster) {
        do { try replica.followGovernance() } catch {
            logger.warning("cannot read the governance entries of the replica", metadata: ["error": "\(error)"])
        }
        let now = replica.roster
        guard now != last else { return }
        let gone = last.memberIDs.subtracting(now.memberIDs)
        let added = now.memberIDs.subtracting(last.memberIDs)
        last = now
        logger.notice("membership changed by decision", metadata: [
            "added": "\(added.sorted().joined(separator: ","))", "gone": "\(gone.sorted().joined(separator: ","))"])
        if !gone.isEmpty { registry.close(gone, "\(gone.sorted().joined(separator: ", ")) no longer active members (decided by quorum)") }
        dialers.update(dialed(now))
        registry.wakeup.wake()
    }

    /// A decision superseded a branch of an origin here (§3.5), in the daemon or in a
    /// CLI process: its head went back, so the sessions start again and peers send
    /// the standing branch from there.
    func followSupersessions(_ last: inout Int) {
        guard let now = try? replica.supersededCount(), now != last else { return }
        last = now
        logger.notice("a decision superseded logged entries; sessions restart to fetch the standing branch")
        do {
            registry.restartAfterSupersession(holding: try replica.versionVector(),
                                              "a decision superseded entries on node \(replica.nodeID)")
        } catch {
            logger.warning("cannot read the version vector after a supersession", metadata: ["error": "\(error)"])
            registry.closeAll("a decision superseded entries on node \(replica.nodeID)")
        }
        registry.wakeup.wake()
    }

    func reload() {
        do {
            let change = try replica.updateRoster(try directory.loadRoster(), source: directory.rosterPath)
            guard !change.isEmpty else { return }
            logger.notice("roster reloaded", metadata: [
                "added": "\(change.added.joined(separator: ","))", "removed": "\(change.removed.joined(separator: ","))",
                "changed": "\(change.changed.joined(separator: ","))", "released_entries": "\(change.released.count)",
            ])
            registry.closeAll("the roster changed on node \(replica.nodeID)")
            dialers.update(dialed(replica.roster))
            if !change.released.isEmpty { registry.wakeup.wake() }
        } catch {
            logger.warning("the roster file changed but was not installed; keeping the current roster",
                           metadata: ["file": "\(directory.rosterPath)", "error": "\(error)"])
        }
    }
}
