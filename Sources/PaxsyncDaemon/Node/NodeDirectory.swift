import Foundation
import PaxsyncControl
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

/// A node's data directory: configuration, signing key, roster and replica.
public struct NodeDirectory: Sendable {
    public static let configFile = "paxsync.conf"

    public let path: String
    public let configuration: NodeConfiguration

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    public var replicaPath: String { file(configuration.replicaFile) }
    public var rosterPath: String { file(configuration.rosterFile) }
    public var keyPath: String { file(configuration.keyFile) }
    public var genesisPath: String { file(configuration.genesisFile) }

    /// Creates a data directory with a new signing key (mode 0600), a commented
    /// configuration, a roster and an empty replica.
    ///
    /// - Parameter roster: The coalition roster, which must list this node with
    ///   the new key's public half; when nil, a roster of this node alone is
    ///   written, to be replaced with the coalition's (`paxsync roster set`).
    public static func initialize(path: String, nodeID: String, country: String, name: String, address: String,
                                  roster: Roster?, key: NodeSigningKey = NodeSigningKey(),
                                  configure: (inout NodeConfiguration) -> Void = { _ in }) throws -> NodeDirectory {
        guard Identifier.isValidMember(nodeID) else {
            throw PaxsyncError(.usage, "--node-id must be 2–16 uppercase letters or digits, like AU", subject: nodeID)
        }
        let fm = FileManager.default
        if fm.fileExists(atPath: (path as NSString).appendingPathComponent(configFile)) {
            throw PaxsyncError(.usage, "a node is already initialised here; refusing to overwrite its key", subject: path)
        }
        try fm.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var config = NodeConfiguration(nodeID: nodeID)
        config.listen = address
        configure(&config)
        let dir = NodeDirectory(path: path, configuration: config)

        let self_ = RosterMember(id: nodeID, country: country, name: name, signingKey: key.publicKeyBase64, address: address)
        let roster = roster ?? Roster(coalition: "paxsync coalition", members: [self_])
        try roster.validate(source: dir.rosterPath)
        guard roster.member(nodeID)?.signingKey == key.publicKeyBase64 else {
            throw PaxsyncError(.badInput, "the roster does not list \(nodeID) with this node's new key", subject: dir.rosterPath)
        }

        try FileWriter.write(dir.keyPath, key.fileContents, mode: 0o600)
        try FileWriter.write(dir.file(configFile), config.fileContents, mode: 0o644)
        try FileWriter.write(dir.rosterPath, String(decoding: roster.encoded(), as: UTF8.self), mode: 0o644)
        _ = try Replica(path: dir.replicaPath, nodeID: nodeID, roster: roster, signingKey: key)
        return dir
    }

    /// Opens an initialised data directory: reads `paxsync.conf` and applies the
    /// `PAXSYNC_<KEY>` overrides in `environment` (``NodeConfiguration/applying(environment:)``).
    public static func open(_ path: String,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> NodeDirectory {
        let configPath = (path as NSString).appendingPathComponent(configFile)
        if access(path, R_OK | X_OK) != 0 && errno == EACCES || access(configPath, R_OK) != 0 && errno == EACCES {
            throw PaxsyncError(.permission, "permission denied: the data directory belongs to the account that runs the node", subject: path)
        }
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw PaxsyncError(.notFound, "no paxsync node here (missing \(configFile)); create one with `paxsync node init`", subject: path)
        }
        let config = try NodeConfiguration.parse(String(decoding: data, as: UTF8.self), source: configPath)
            .applying(environment: environment)
        return NodeDirectory(path: path, configuration: config)
    }

    public func loadRoster() throws -> Roster {
        guard let data = FileManager.default.contents(atPath: rosterPath) else {
            throw PaxsyncError(.notFound, "the roster file is missing; a node does not run without one", subject: rosterPath)
        }
        let roster = try Roster.decode(data, source: rosterPath)
        guard roster.member(configuration.nodeID) != nil else {
            throw PaxsyncError(.badInput, "the roster does not list this node \(configuration.nodeID)", subject: rosterPath)
        }
        return roster
    }

    /// The coalition's genesis when the node has one (`coalition_id` set): its
    /// SHA-256 must be the pinned id, every founder must have signed, and the roster
    /// must list every founder with the key the genesis gives it. Nil otherwise.
    public func loadGenesis() throws -> Genesis? {
        guard !configuration.coalitionID.isEmpty else { return nil }
        guard let data = FileManager.default.contents(atPath: genesisPath) else {
            throw PaxsyncError(.notFound, "paxsync.conf pins coalition \(configuration.coalitionID), but its genesis file is missing",
                               subject: genesisPath)
        }
        let genesis = try Genesis.decode(data, source: genesisPath)
        guard genesis.coalitionID == configuration.coalitionID else {
            throw PaxsyncError(.badInput, "this genesis is coalition \(genesis.coalitionID), but paxsync.conf pins coalition_id = "
                               + "\(configuration.coalitionID)", subject: genesisPath)
        }
        try genesis.requireComplete(source: genesisPath)
        let roster = try loadRoster()
        for founder in genesis.roster.members where roster.member(founder.id)?.signingKey != founder.signingKey {
            throw PaxsyncError(.badInput, "the roster does not list founder \(founder.id) with the key the genesis gives it",
                               subject: rosterPath)
        }
        return genesis
    }

    /// Makes this node a node of the coalition `genesis` founds: checks it is
    /// signed by every founder and lists this node with its key, and that every
    /// member of the current roster is a founder with the same key (so every entry
    /// in the log still verifies: none is lost or re-signed); then adds the founders
    /// the roster lacks (and pins it learns), keeps the genesis beside the roster and
    /// pins its id in paxsync.conf.
    public func adopt(_ genesis: Genesis, source: String) throws -> NodeDirectory {
        try genesis.requireComplete(source: source)
        let roster = try loadRoster()
        guard let listed = genesis.roster.member(configuration.nodeID)?.signingKey,
              listed == roster.member(configuration.nodeID)?.signingKey else {
            throw PaxsyncError(.badInput, "the genesis does not list \(configuration.nodeID) with this node's key "
                               + "\(roster.member(configuration.nodeID)?.signingKey ?? "")", subject: source)
        }
        if !configuration.coalitionID.isEmpty && configuration.coalitionID != genesis.coalitionID {
            throw PaxsyncError(.usage, "this node already belongs to coalition \(configuration.coalitionID)", subject: source)
        }
        for member in roster.members {
            guard let founder = genesis.roster.member(member.id) else {
                throw PaxsyncError(.badInput, "\(member.id) is in this node's roster but not a founder in the genesis: "
                                   + "its entries would no longer verify", subject: source)
            }
            guard founder.signingKey == member.signingKey else {
                throw PaxsyncError(.badInput, "the genesis lists \(member.id) with another key than this node's roster", subject: source)
            }
        }
        let (merged, _) = try roster.merging(genesis.roster, source: source)
        try FileWriter.write(genesisPath, String(decoding: genesis.encoded(), as: UTF8.self), mode: 0o644)
        try installRoster(merged, source: source)
        var config = configuration
        config.coalitionID = genesis.coalitionID
        return try saveConfiguration(config)
    }

    public func loadKey() throws -> NodeSigningKey {
        guard let data = FileManager.default.contents(atPath: keyPath) else {
            throw PaxsyncError(.notFound, "the signing key is missing", subject: keyPath)
        }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: keyPath),
           let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw PaxsyncError(.badInput, "the signing key is readable by others (mode \(String(mode, radix: 8))); run chmod 600", subject: keyPath)
        }
        return try NodeSigningKey(fileContents: String(decoding: data, as: UTF8.self), source: keyPath)
    }

    /// Opens the replica. With `writable`, loads the signing key for local writes.
    /// Opens the replica: for writing (local writes, applying entries: the
    /// signing key is loaded), or read-only, so read commands never write to it
    /// (SQLite's WAL set-up included) and work on a full disk.
    public func openReplica(writable: Bool = true, clock: any PhysicalClock = SystemClock()) throws -> Replica {
        let roster = try loadRoster()
        guard FileManager.default.fileExists(atPath: replicaPath) else {
            throw PaxsyncError(.notFound, "the replica file is missing", subject: replicaPath)
        }
        if writable {
            try finishKeyRotation(roster: roster)
            try installPendingKey(roster: roster)
        }
        // Governance starts from the genesis's founders and quorum when the node has one.
        let genesis = try loadGenesis()
        return try Replica(path: replicaPath, nodeID: configuration.nodeID, roster: roster,
                           signingKey: writable ? try loadKey() : nil, clock: clock,
                           configuration: ReplicaConfiguration(maxClockSkewMilliseconds: configuration.maxClockSkewSeconds * 1000,
                                                               readOnly: !writable, founders: genesis?.roster,
                                                               foundingQuorum: genesis?.quorum ?? .majority))
    }

    /// Where `key rotate` keeps the next key until the rotation entry is committed.
    public var nextKeyPath: String { keyPath + ".next" }

    /// Rotates this node's signing key (PROTOCOL §3.4): writes the new key beside
    /// the current one, commits the format-2 entry that names it (signed with the
    /// current key), then moves the new key into place. A crash in between is
    /// finished (or undone) by the next writable open, whichever the log says.
    ///
    /// - Parameter replica: This node's replica, opened for writing (which finishes an earlier interrupted rotation).
    public func rotateSigningKey(using replica: Replica) throws -> (entry: SignedEntry, key: NodeSigningKey) {
        let next = NodeSigningKey()
        try FileWriter.write(nextKeyPath, next.fileContents, mode: 0o600)
        let entry: SignedEntry
        do { entry = try replica.rotateSigningKey(to: next) } catch {
            try? FileManager.default.removeItem(atPath: nextKeyPath)
            throw error
        }
        try finishKeyRotation(roster: loadRoster())
        return (entry, next)
    }

    /// Where `key new` keeps a new key until a decision revokes the current one in its favour (§3.5).
    public var pendingKeyPath: String { keyPath + ".pending" }

    /// Writes a new signing key to ``pendingKeyPath`` (or returns the one already there):
    /// the key a revocation proposal names. It signs nothing until the revocation is decided.
    public func pendingKey() throws -> (key: NodeSigningKey, created: Bool) {
        if let data = FileManager.default.contents(atPath: pendingKeyPath) {
            return (try NodeSigningKey(fileContents: String(decoding: data, as: UTF8.self), source: pendingKeyPath), false)
        }
        let key = NodeSigningKey()
        try FileWriter.write(pendingKeyPath, key.fileContents, mode: 0o600)
        return (key, true)
    }

    /// Once a decision revoked this node's key in favour of the pending key, makes it
    /// the node's key (the revoked one is kept as `node.key.revoked`). Returns whether it did.
    @discardableResult
    public func installPendingKey(roster: Roster? = nil) throws -> Bool {
        guard let data = FileManager.default.contents(atPath: pendingKeyPath) else { return false }
        let pending = try NodeSigningKey(fileContents: String(decoding: data, as: UTF8.self), source: pendingKeyPath)
        let genesis = try loadGenesis()
        let current = try Replica(path: replicaPath, nodeID: configuration.nodeID, roster: roster ?? loadRoster(),
                                  configuration: ReplicaConfiguration(readOnly: true, founders: genesis?.roster,
                                                                      foundingQuorum: genesis?.quorum ?? .majority)).currentSigningKey()
        guard current == Array(pending.key.publicKey.rawRepresentation) else { return false }
        if FileManager.default.fileExists(atPath: keyPath) {
            guard rename(keyPath, keyPath + ".revoked") == 0 else {
                throw PaxsyncError(.storage, "cannot keep the revoked key aside: \(String(cString: strerror(errno)))", subject: keyPath)
            }
        }
        guard rename(pendingKeyPath, keyPath) == 0 else {
            throw PaxsyncError(.storage, "cannot move the new key into place: \(String(cString: strerror(errno)))", subject: pendingKeyPath)
        }
        return true
    }

    /// After an interrupted `key rotate`: keeps the next key if the log rotated to
    /// it, else removes it.
    func finishKeyRotation(roster: Roster) throws {
        guard let data = FileManager.default.contents(atPath: nextKeyPath) else { return }
        let next = try NodeSigningKey(fileContents: String(decoding: data, as: UTF8.self), source: nextKeyPath)
        let current = try Replica(path: replicaPath, nodeID: configuration.nodeID, roster: roster,
                                  configuration: ReplicaConfiguration(readOnly: true)).currentSigningKey()
        if current == Array(next.key.publicKey.rawRepresentation) {
            guard rename(nextKeyPath, keyPath) == 0 else {
                throw PaxsyncError(.storage, "cannot move the rotated key into place: \(String(cString: strerror(errno)))", subject: nextKeyPath)
            }
        } else {
            try FileManager.default.removeItem(atPath: nextKeyPath)
        }
    }

    /// Rewrites `paxsync.conf` with `configuration` (its comments regenerated).
    public func saveConfiguration(_ configuration: NodeConfiguration) throws -> NodeDirectory {
        try FileWriter.write(file(Self.configFile), configuration.fileContents, mode: 0o644)
        return NodeDirectory(path: path, configuration: configuration)
    }

    /// Replaces the roster after validating it lists this node with its key.
    public func installRoster(_ roster: Roster, source: String) throws {
        try roster.validate(source: source)
        let key = try loadKey()
        // The roster lists the node's first key; once the log rotated it, the one the current roster lists.
        let listed = roster.member(configuration.nodeID)?.signingKey
        let old = try? loadRoster()
        let current = old?.member(configuration.nodeID)?.signingKey
        guard listed == key.publicKeyBase64 || (listed != nil && listed == current) else {
            throw PaxsyncError(.badInput, "the roster must list \(configuration.nodeID) with this node's public key \(key.publicKeyBase64)", subject: source)
        }
        if let old, FileManager.default.fileExists(atPath: replicaPath),
           let replica = try? Replica(path: replicaPath, nodeID: configuration.nodeID, roster: old) {
            // Checked as the replica would (no member's key changes), and entries of
            // members it adds that were quarantined as unknown-origin are judged again.
            _ = try replica.updateRoster(roster, source: source)
        }
        try FileWriter.write(rosterPath, String(decoding: roster.encoded(), as: UTF8.self), mode: 0o644)
    }
}
