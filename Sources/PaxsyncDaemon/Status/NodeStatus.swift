import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncStore

/// What `paxsync status` shows: the node, its peers, every origin's lag, and
/// what is held, quarantined or in conflict. The daemon serves it on its admin
/// socket; without a daemon it is read from the replica alone
/// (`daemonRunning` false, no peer sessions).
public struct NodeStatus: Codable, Sendable {
    public struct Member: Codable, Sendable, Equatable {
        public var id: String
        public var country: String
        public var name: String
        public var address: String
    }

    public struct Peer: Codable, Sendable, Equatable {
        public var id: String
        public var address: String
        public var connected: Bool
        /// Since when connected, or disconnected (nil: never connected since start).
        public var since: String?
        public var lastContact: String?
        public var sessions: Int
        public var entriesIn: Int
        public var entriesOut: Int
        public var bytesIn: Int
        public var bytesOut: Int
        /// Heartbeats advertising what a side holds (PROTOCOL §13.6), in and out;
        /// nil from a daemon that does not count them.
        public var advertisementsIn: Int?
        public var advertisementsOut: Int?
        /// Entries this node holds that the peer has not announced holding.
        public var behindEntries: UInt64
        public var lastError: String?
        /// When the last error happened.
        public var lastErrorAt: String?
        /// The last few errors, oldest first (`paxsync status --verbose`).
        public var recentErrors: [PeerError]?
    }

    public struct PeerError: Codable, Sendable, Equatable {
        public var message: String
        public var at: String
    }

    public struct Origin: Codable, Sendable, Equatable {
        public var origin: String
        /// Highest contiguous sequence held here.
        public var heldSeq: UInt64
        /// Highest sequence known anywhere: here or advertised by a peer.
        public var knownSeq: UInt64
        public var lagEntries: UInt64
        /// While lagging: how old the newest entry held from this origin is, in seconds.
        public var lagSeconds: Double?
        /// Clock time (HLC) of the newest entry held.
        public var lastEntryAt: String?
        /// ok, blocked (quarantined entry), or equivocating.
        public var state: String
        public var reason: String?
        /// For an origin blocked by a quarantined entry: the command that releases it (a void decision, §3.5).
        public var release: String? = nil
    }

    /// A governance proposal still waiting for approvals (§3.5).
    public struct PendingProposal: Codable, Sendable, Equatable {
        public var proposal: String
        public var decision: String
        public var approvals: [String]
        public var needed: Int
        public var missing: [String]
    }

    public var node: String
    public var version: String
    public var daemonRunning: Bool
    public var startedAt: String?
    public var uptimeSeconds: Double?
    public var listen: String?
    public var generatedAt: String
    public var roster: [Member]
    public var peers: [Peer]
    public var origins: [Origin]
    public var held: [HeldItem]
    public var quarantined: [QuarantineItem]
    public var equivocations: [EquivocationItem]
    public var openConflicts: Int
    public var logEntries: Int
    public var replicaBytes: Int
    /// The latest TLS certificates this node's server refused, and why (a key
    /// other than the roster's pin, an unknown member, no chain to the CA), oldest first.
    public var refusedCertificates: [PeerError]?
    /// Why local writes are paused (`LocalWritePause`) and since when, or nil when allowed.
    public var localWritesPaused: String?
    /// Governance proposals waiting for approvals.
    public var pendingProposals: [PendingProposal]? = nil

    /// Origins whose entries are held, quarantined or equivocating, for alerts.
    public var troubledOrigins: [String] {
        origins.filter { $0.state != "ok" }.map(\.origin)
    }
}
