import PaxsyncModel

/// The state machine of one sync session with one peer, without I/O.
///
/// A thin shell (PaxsyncNet's session runner) feeds it what happens — the
/// session starts, a message arrives, a batch was applied, time passes — and
/// performs the actions it returns. The machine checks the handshake, tracks
/// what the peer holds (so nothing is sent twice and relayed entries go only
/// where they are missing), and decides when to heartbeat or give up.
///
/// States and their legal transitions:
/// - `awaitingHello` → `syncing` (a valid hello) or `closed`;
/// - `syncing` → `closed` (goodbye, protocol violation, silence, too many bad entries);
/// - `closed` is final.
public struct SyncSession: Sendable {
    public enum State: Sendable, Equatable {
        case awaitingHello
        case syncing
        case closed(reason: String)
    }

    /// What the shell must do next.
    public enum Action: Sendable, Equatable {
        case send(SyncMessage)
        /// Apply these entries through the replica's apply path, then report `applied`.
        case apply([RawEntry])
        /// Close the stream, with a goodbye carrying the reason when `notifyPeer`.
        case close(reason: String, notifyPeer: Bool)
    }

    public let localNodeID: String
    /// The node id the peer's TLS certificate names.
    public let certifiedPeerID: String
    public let members: Set<String>
    public private(set) var state: State = .awaitingHello
    /// What the peer holds, as far as this side knows: its hello, its acks, and what was sent to it.
    public private(set) var peerVersionVector = VersionVector()
    public private(set) var peerCaughtUp = false
    /// What the peer knows this side holds: its hello, its acks and
    /// advertisements, what it sent and what it was sent (PROTOCOL §13.6).
    public private(set) var advertisedVersionVector = VersionVector()
    /// How long an entry of a third member waits before it is relayed to this
    /// peer once catch-up is done (0: relayed at once).
    public let relayDelayMilliseconds: UInt64
    /// When this side's writer first saw each entry it is holding back from the peer.
    private var relayFirstSeen: [EntryID: UInt64] = [:]
    /// Entries sent past one still waiting: offered again with it, not sent again
    /// (a superseded entry does not show in the peer's version vector).
    private var sentPastWaiting: Set<EntryID> = []
    /// When the oldest entry held back is due; nil when none is.
    public private(set) var relayDeadlineMilliseconds: UInt64?
    /// At most one advertisement in this time (0: no limit).
    public let advertiseIntervalMilliseconds: UInt64
    private var lastAdvertisedMilliseconds: UInt64?
    /// When an advertisement held back by the interval is due; nil when none is.
    public private(set) var advertiseDeadlineMilliseconds: UInt64?
    public private(set) var lastHeardMilliseconds: UInt64
    public private(set) var lastSentMilliseconds: UInt64
    public private(set) var quarantinedFromPeer = 0
    /// Set when the session closed because the peer is not who or what it may
    /// be (not in the roster, a hello naming another node than its
    /// certificate): the server answers such a session with permission denied.
    public private(set) var refusal: String?

    /// SHA-256 of this node's coalition genesis, stated in its hello and required
    /// in the peer's; empty when the node has no genesis (PROTOCOL §2.2, §13.2).
    public let coalitionID: [UInt8]

    public init(localNodeID: String, certifiedPeerID: String, members: Set<String>, now: UInt64,
                relayDelayMilliseconds: UInt64 = SyncProtocol.relayDelayMilliseconds,
                advertiseIntervalMilliseconds: UInt64 = SyncProtocol.advertiseIntervalMilliseconds,
                coalitionID: [UInt8] = []) {
        self.coalitionID = coalitionID
        self.localNodeID = localNodeID
        self.certifiedPeerID = certifiedPeerID
        self.members = members
        self.relayDelayMilliseconds = relayDelayMilliseconds
        self.advertiseIntervalMilliseconds = advertiseIntervalMilliseconds
        self.lastHeardMilliseconds = now
        self.lastSentMilliseconds = now
    }

    public var isClosed: Bool { if case .closed = state { true } else { false } }

    /// The session begins: refuse a peer that is not in the roster, else send our hello.
    public mutating func start(localVersionVector: VersionVector, now: UInt64) -> [Action] {
        guard members.contains(certifiedPeerID) else {
            return refuse("peer \(certifiedPeerID) is not in the roster")
        }
        lastSentMilliseconds = now
        advertisedVersionVector = localVersionVector
        return [.send(.hello(.init(nodeID: localNodeID, versionVector: localVersionVector, coalitionID: coalitionID)))]
    }

    /// A message arrived from the peer.
    public mutating func received(_ message: SyncMessage, now: UInt64) -> [Action] {
        guard !isClosed else { return [] }
        lastHeardMilliseconds = now
        switch (state, message) {
        case (.awaitingHello, .hello(let hello)):
            guard hello.nodeID == certifiedPeerID else {
                return refuse("peer says it is \(hello.nodeID) but its certificate names \(certifiedPeerID)")
            }
            // A node founded by a genesis talks only to nodes of the same coalition.
            if !coalitionID.isEmpty && hello.coalitionID != coalitionID {
                return refuse(hello.coalitionID.isEmpty
                    ? "peer \(hello.nodeID) states no coalition id; this node belongs to coalition \(coalitionID.hex)"
                    : "peer \(hello.nodeID) belongs to coalition \(hello.coalitionID.hex), not this node's \(coalitionID.hex)")
            }
            guard hello.protocolVersion == SyncProtocol.version else {
                return close("peer \(hello.nodeID) speaks sync protocol \(hello.protocolVersion); this node speaks \(SyncProtocol.version)", notify: true)
            }
            peerVersionVector = members(of: hello.versionVector)
            state = .syncing
            return []
        case (.awaitingHello, _):
            return close("peer \(certifiedPeerID) sent \(message.kind) before its hello", notify: true)
        case (.syncing, .hello):
            return close("peer \(certifiedPeerID) sent a second hello", notify: true)
        case (.syncing, .entries(let entries, _)) where entries.count > SyncProtocol.maxBatchEntries:
            return close("peer \(certifiedPeerID) sent a batch of \(entries.count) entries; a batch holds at most \(SyncProtocol.maxBatchEntries)",
                         notify: true)
        case (.syncing, .entries(let entries, _)):
            // The peer holds what it sends: never offer those entries back to it.
            for entry in entries {
                if let id = entry.id {
                    peerVersionVector.advance(id.origin, to: id.seq)
                    // Once applied here, the peer knows this side holds it: no need to advertise it.
                    advertisedVersionVector.advance(id.origin, to: id.seq)
                }
            }
            return entries.isEmpty ? [] : [.apply(entries)]
        case (.syncing, .ack(let vv)):
            peerVersionVector.formUnion(members(of: vv))
            return []
        case (.syncing, .heartbeat(_, let holds)):
            if let holds { peerVersionVector.formUnion(members(of: holds)) }
            return []
        case (_, .goodbye(let reason)):
            state = .closed(reason: "peer \(certifiedPeerID) ended the session: \(reason)")
            return [.close(reason: "peer \(certifiedPeerID) ended the session: \(reason)", notifyPeer: false)]
        case (.closed, _):
            return []
        }
    }

    /// How many more entries from the peer may be quarantined in this session.
    public var quarantineBudget: Int { max(0, SyncProtocol.maxQuarantinedPerSession - quarantinedFromPeer) }

    /// A batch from the peer went through the apply path.
    public mutating func applied(quarantined: Int, localVersionVector: VersionVector, now: UInt64) -> [Action] {
        guard !isClosed else { return [] }
        quarantinedFromPeer += quarantined
        if quarantinedFromPeer >= SyncProtocol.maxQuarantinedPerSession {
            return close("peer \(certifiedPeerID) sent \(quarantinedFromPeer) entries that were quarantined", notify: true)
        }
        lastSentMilliseconds = now
        advertisedVersionVector.formUnion(localVersionVector)
        return [.send(.ack(versionVector: localVersionVector))]
    }

    /// A heartbeat advertising what this side holds, when the peer does not
    /// know all of it (entries from other members this side got first or
    /// meanwhile): the peer then relays none of them back (PROTOCOL §13.6).
    /// At most one per `advertiseIntervalMilliseconds`: one that must wait
    /// sets `advertiseDeadlineMilliseconds`, and the shell asks again then.
    public mutating func advertisement(localVersionVector: VersionVector, now: UInt64) -> SyncMessage? {
        guard state == .syncing, advertisedVersionVector.lacksAny(of: localVersionVector) else { return nil }
        if let last = lastAdvertisedMilliseconds, now < last + advertiseIntervalMilliseconds {
            advertiseDeadlineMilliseconds = last + advertiseIntervalMilliseconds
            return nil
        }
        lastAdvertisedMilliseconds = now
        advertiseDeadlineMilliseconds = nil
        advertisedVersionVector.formUnion(localVersionVector)
        return .heartbeat(sentAtMilliseconds: now, holds: localVersionVector)
    }

    /// What `select` chose from a run of log entries.
    public struct Selection: Sendable, Equatable {
        /// The entries to send now, in log order.
        public var entries: [RawEntry]
        /// How many of the candidates were dealt with (sent, or held by the
        /// peer already); the rest are held back and offered again later.
        public var consumed: Int
        /// How many candidates were offered.
        public var total: Int
        public var heldBack: Int { total - consumed }

        public init(entries: [RawEntry], consumed: Int, total: Int) {
            self.entries = entries
            self.consumed = consumed
            self.total = total
        }
    }

    /// Chooses, from entries in local log order, those the peer lacks, and
    /// records them as sent. Entries must be offered in log order.
    ///
    /// With `relay` set (after this side's catch-up), an entry of a third
    /// member — neither this node's nor the peer's — that the peer lacks is
    /// held back until it has waited `relayDelayMilliseconds` since it was first
    /// offered, in case the peer gets it from its origin or another member
    /// first and says so (`advertisement`). An entry that must go now (this
    /// node's own, the peer's own, or one whose wait is over) goes without the
    /// waiting ones before it, which keep waiting: flushing them would send the
    /// peer, in a full mesh, what it got from their origin a moment ago. The
    /// peer holds an entry whose dependencies have not arrived until they do.
    /// `consumed` stops at the first entry still waiting, so it is offered
    /// again; what went past it is not sent twice.
    public mutating func select(_ candidates: [(id: EntryID, entry: RawEntry)], now: UInt64 = 0, relay: Bool = false) -> Selection {
        guard state == .syncing else { return Selection(entries: [], consumed: 0, total: candidates.count) }
        let delay = relay ? relayDelayMilliseconds : 0
        var firstHeldBack: Int?
        var out: [RawEntry] = []
        for (index, (id, entry)) in candidates.enumerated() where !peerVersionVector.contains(id) && !sentPastWaiting.contains(id) {
            if delay > 0 && id.origin != localNodeID && id.origin != certifiedPeerID {
                let seen = relayFirstSeen[id] ?? now
                relayFirstSeen[id] = seen
                guard now >= seen + delay else {
                    if firstHeldBack == nil { firstHeldBack = index }
                    continue
                }
                relayFirstSeen[id] = nil
            }
            out.append(entry)
            if firstHeldBack != nil { sentPastWaiting.insert(id) }
            guard !entry.superseded else { continue }
            peerVersionVector.advance(id.origin, to: id.seq)
            advertisedVersionVector.advance(id.origin, to: id.seq)
        }
        let consumed = firstHeldBack ?? candidates.count
        for (id, _) in candidates[..<consumed] where !relayFirstSeen.isEmpty || !sentPastWaiting.isEmpty {
            relayFirstSeen[id] = nil
            sentPastWaiting.remove(id)
        }
        relayDeadlineMilliseconds = relayFirstSeen.values.min().map { $0 + delay }
        return Selection(entries: out, consumed: consumed, total: candidates.count)
    }

    /// Whether the peer lacks anything of a local version vector.
    public func peerLacks(_ local: VersionVector) -> Bool {
        peerVersionVector.lacksAny(of: local)
    }

    /// Records that a batch (or heartbeat) was sent now.
    public mutating func sent(now: UInt64) { lastSentMilliseconds = now }

    /// Time passes: heartbeat when idle, close when the peer has been silent too long.
    public mutating func tick(now: UInt64) -> [Action] {
        guard !isClosed else { return [] }
        if now >= lastHeardMilliseconds + 3 * SyncProtocol.heartbeatMilliseconds {
            return close("peer \(certifiedPeerID) silent for \((now - lastHeardMilliseconds) / 1000) s", notify: true)
        }
        // The writer looks at the log after a deadline and sends what waited.
        if let due = relayDeadlineMilliseconds, now >= due { relayDeadlineMilliseconds = nil }
        if let due = advertiseDeadlineMilliseconds, now >= due { advertiseDeadlineMilliseconds = nil }
        if state == .syncing, now >= lastSentMilliseconds + SyncProtocol.heartbeatMilliseconds {
            lastSentMilliseconds = now
            return [.send(.heartbeat(sentAtMilliseconds: now))]
        }
        return []
    }

    /// When `tick` next has something to do, in the same milliseconds as `now`:
    /// the next heartbeat, or the moment a silent peer is dropped. The shell
    /// sleeps until then unless something happens first; nil once closed.
    public var nextDeadlineMilliseconds: UInt64? {
        guard !isClosed else { return nil }
        let silence = lastHeardMilliseconds + 3 * SyncProtocol.heartbeatMilliseconds
        guard state == .syncing else { return silence }
        return min(silence, lastSentMilliseconds + SyncProtocol.heartbeatMilliseconds,
                   relayDeadlineMilliseconds ?? .max, advertiseDeadlineMilliseconds ?? .max)
    }

    /// The shell ends the session (shutdown, transport error).
    public mutating func stop(_ reason: String) -> [Action] {
        guard !isClosed else { return [] }
        return close(reason, notify: true)
    }

    /// The items of a vector a peer sent that name roster members: what it
    /// says of other ids matters to nothing here, and is not kept (a hostile
    /// peer could otherwise grow it without bound, message after message).
    private func members(of vv: VersionVector) -> VersionVector {
        vv.seqs.keys.allSatisfy(members.contains) ? vv : VersionVector(vv.seqs.filter { members.contains($0.key) })
    }

    private mutating func refuse(_ reason: String) -> [Action] {
        refusal = reason
        return close(reason, notify: true)
    }

    private mutating func close(_ reason: String, notify: Bool) -> [Action] {
        state = .closed(reason: reason)
        return [.close(reason: reason, notifyPeer: notify)]
    }
}
