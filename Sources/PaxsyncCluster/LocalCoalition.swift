import Foundation
import PaxsyncControl
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore

#if canImport(Glibc)
import Glibc
#endif

/// A coalition of nodes on loopback under one directory — coalition CA, signing
/// keys, certificates, one roster — and the `paxsync serve` processes running
/// them. Behind `paxsync demo` and the network benchmarks.
///
/// Layout: `BASE/ca` (ca.crt, ca.key), `BASE/ID` (a node's data directory, its
/// certificate in `tls/`), `BASE/ID/serve.log` (the daemon's output).
public final class LocalCoalition: @unchecked Sendable {
    public struct Member: Sendable {
        public let id: String
        public let country: String
        public let name: String

        public init(id: String, country: String, name: String) {
            self.id = id
            self.country = country
            self.name = name
        }
    }

    public let base: String
    /// The founders, then the members that ``prepareJoiner(_:)`` added.
    public private(set) var members: [Member]
    public let roster: Roster
    /// The `paxsync` executable that `start` runs.
    public let executable: String
    private let lock = NSLock()
    private var processes: [String: Process] = [:]

    public var ids: [String] { members.map(\.id) }

    /// Creates the coalition's files. Each node listens on a free loopback port;
    /// `configure` adjusts a node's configuration before it is written.
    /// `pinTLSKeys`: the roster pins each node's TLS key (its certificate is still
    /// from the coalition CA); false leaves the CA alone to vouch for them.
    /// `foundByGenesis`: the members sign a genesis and every node adopts it
    /// (the coalition id is pinned and stated in hellos).
    public init(base: String, members: [Member], executable: String, pinTLSKeys: Bool = true, foundByGenesis: Bool = true,
                configure: (String, inout NodeConfiguration) -> Void = { _, _ in }) throws {
        self.base = base
        self.members = members
        self.executable = executable
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let ca = try CADirectory.create(at: (base as NSString).appendingPathComponent("ca"), name: "paxsync local coalition CA")

        let keys = Dictionary(uniqueKeysWithValues: members.map { ($0.id, NodeSigningKey()) })
        var roster = Roster(coalition: "paxsync local coalition", members: members.map { m in
            RosterMember(id: m.id, country: m.country, name: m.name, signingKey: keys[m.id]!.publicKeyBase64,
                         address: "127.0.0.1:\(LoopbackPorts.reserve())")
        })
        var directories: [NodeDirectory] = []
        for m in members {
            let path = (base as NSString).appendingPathComponent(m.id)
            directories.append(try NodeDirectory.initialize(path: path, nodeID: m.id, country: m.country, name: m.name,
                                                            address: roster.member(m.id)!.address, roster: roster, key: keys[m.id]!) {
                configure(m.id, &$0)
            })
            let tls = (path as NSString).appendingPathComponent("tls")
            try ca.issueNode(id: m.id, into: tls)
            if pinTLSKeys {
                let pem = try String(contentsOfFile: TLSFiles(directory: tls).certificate, encoding: .utf8)
                roster.members[roster.members.firstIndex { $0.id == m.id }!].tlsPin = try PeerCertificateCheck.pin(ofPEM: pem)
            }
        }
        if pinTLSKeys {
            for directory in directories { try directory.installRoster(roster, source: "local coalition") }
        }
        // Founded by a genesis every member signs, as a real coalition is (`paxsync coalition`).
        if foundByGenesis {
            var genesis = try Genesis.create(roster: roster, createdAtMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000),
                                             source: "local coalition")
            for m in members { try genesis.sign(as: m.id, key: keys[m.id]!, source: "local coalition") }
            for directory in directories { _ = try directory.adopt(genesis, source: "local coalition") }
            coalitionID = genesis.coalitionID
        } else {
            coalitionID = nil
        }
        self.roster = roster
    }

    /// The coalition id, when it was founded by a genesis.
    public private(set) var coalitionID: String?

    /// Opens a coalition laid out as `init` lays it out (nodes in `BASE/ID`),
    /// however it was made, to run its daemons.
    public init(opening base: String, ids: [String], executable: String) throws {
        guard let first = ids.first else { throw PaxsyncError(.usage, "a coalition needs at least one node", subject: base) }
        let roster = try NodeDirectory.open((base as NSString).appendingPathComponent(first)).loadRoster()
        self.base = base
        self.roster = roster
        self.coalitionID = try NodeDirectory.open((base as NSString).appendingPathComponent(first)).configuration.coalitionID
            .nilIfEmpty
        self.members = ids.map { id in
            Member(id: id, country: roster.member(id)?.country ?? id, name: roster.member(id)?.name ?? id)
        }
        self.executable = executable
    }

    public func dataDir(_ id: String) -> String { (base as NSString).appendingPathComponent(id) }
    public func logPath(_ id: String) -> String { (dataDir(id) as NSString).appendingPathComponent("serve.log") }
    public func directory(_ id: String) throws -> NodeDirectory { try NodeDirectory.open(dataDir(id)) }

    /// Starts `paxsync serve` for a node; its output is appended to `serve.log`.
    /// `environment` adds to (or overrides) this process's environment.
    public func start(_ id: String, environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--data-dir", dataDir(id)]
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if !FileManager.default.fileExists(atPath: logPath(id)) {
            _ = FileManager.default.createFile(atPath: logPath(id), contents: nil)
        }
        guard let log = FileHandle(forWritingAtPath: logPath(id)) else {
            throw PaxsyncError(.storage, "cannot open the daemon's log", subject: logPath(id))
        }
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw PaxsyncError(.storage, "cannot start paxsync serve", subject: "node \(id)", underlying: error)
        }
        lock.withLock { processes[id] = process }
    }

    /// Waits until each node's daemon answers on its admin socket and its local
    /// writes are allowed: a daemon pauses them when it starts, until a peer
    /// confirms the node's head (`LocalWritePause`), so a write right after
    /// `start` would be refused. Blocks the calling thread.
    public func waitUntilWritable(_ ids: [String], timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        for id in ids {
            let dir = try directory(id)
            let socket = dir.file(dir.configuration.adminSocket)
            while try !AdminClient.isAnswering(socket) || dir.openReplica(writable: false).localWritePause() != nil {
                guard Date() < deadline else {
                    throw PaxsyncError(.unavailable, "local writes still paused after \(Int(timeout)) s: no peer confirmed its head",
                                       subject: "node \(id)")
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    /// What a member outside the coalition hands a member's operator to be admitted.
    public struct Joiner: Sendable {
        public let member: GovernedMember
        public let directory: NodeDirectory
    }

    /// Makes the data directory of a member that is not in the coalition, as its
    /// operator would (`paxsync node init --genesis`): a signing key, the genesis's
    /// founders and itself as its roster, the coalition id pinned, a certificate
    /// from the local CA whose key it gives as its pin. Its daemon is refused by
    /// the others until a quorum admits it (PROTOCOL §3.5).
    public func prepareJoiner(_ member: Member) throws -> Joiner {
        let founder = try directory(ids[0])
        guard let genesis = try founder.loadGenesis() else {
            throw PaxsyncError(.usage, "the coalition has no genesis: a member joins one founded by a genesis", subject: base)
        }
        let key = NodeSigningKey()
        let address = "127.0.0.1:\(LoopbackPorts.reserve())"
        var roster = genesis.roster
        roster.members.append(RosterMember(id: member.id, country: member.country, name: member.name, signingKey: key.publicKeyBase64,
                                           address: address))
        let path = dataDir(member.id)
        let dir = try NodeDirectory.initialize(path: path, nodeID: member.id, country: member.country, name: member.name,
                                               address: address, roster: roster, key: key) { $0.coalitionID = genesis.coalitionID }
        try FileWriter.write(dir.genesisPath, String(decoding: genesis.encoded(), as: UTF8.self), mode: 0o644)
        let tls = (path as NSString).appendingPathComponent("tls")
        try CADirectory((base as NSString).appendingPathComponent("ca")).issueNode(id: member.id, into: tls)
        let pem = try String(contentsOfFile: TLSFiles(directory: tls).certificate, encoding: .utf8)
        let pin = try PeerCertificateCheck.pin(ofPEM: pem)
        lock.withLock { members.append(member) }
        return Joiner(member: GovernedMember(id: member.id, country: member.country, name: member.name,
                                             signingKey: Array(key.key.publicKey.rawRepresentation), address: address,
                                             tlsPin: [UInt8](hex: pin)),
                      directory: try NodeDirectory.open(path))
    }

    /// The daemon's process id, while it runs.
    public func pid(_ id: String) -> Int32? {
        lock.withLock { processes[id].flatMap { $0.isRunning ? $0.processIdentifier : nil } }
    }

    /// How long `stop` waits after SIGTERM before it kills the daemon: past the
    /// daemon's own bound on a shutdown (graceful, then cancelled).
    public static let stopLimit: Double = 45

    /// Sends SIGTERM and waits for the daemon to finish; returns its exit status.
    /// A daemon still running after `stopLimit` seconds is killed (SIGKILL), said
    /// on standard error and in its log, and reported as 128 + 9.
    @discardableResult
    public func stop(_ id: String) -> Int32? {
        guard let p = lock.withLock({ processes.removeValue(forKey: id) }) else { return nil }
        if p.isRunning { p.terminate() }
        return finish(id, p, deadline: Date().addingTimeInterval(Self.stopLimit))
    }

    /// Stops every daemon (SIGTERM to all, then waits for each, as `stop`).
    public func stopAll() {
        let all = lock.withLock { defer { processes.removeAll() }; return processes }
        for p in all.values where p.isRunning { p.terminate() }
        let deadline = Date().addingTimeInterval(Self.stopLimit)
        for (id, p) in all { _ = finish(id, p, deadline: deadline) }
    }

    /// Waits for a signalled daemon until `deadline`, then kills it.
    private func finish(_ id: String, _ p: Process, deadline: Date) -> Int32 {
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        guard p.isRunning else {
            p.waitUntilExit()
            return p.terminationStatus
        }
        let message = "paxsync serve of node \(id) (pid \(p.processIdentifier)) still running \(Int(Self.stopLimit)) s after SIGTERM: killed\n"
        FileHandle.standardError.write(Data(message.utf8))
        if let log = FileHandle(forWritingAtPath: logPath(id)) {
            log.seekToEndOfFile()
            log.write(Data(message.utf8))
            try? log.close()
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return 128 + SIGKILL
    }

    deinit { stopAll() }

    /// The path of the running executable, for starting daemons of the same build.
    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
