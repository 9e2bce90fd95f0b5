import PaxsyncLog
import PaxsyncModel
import PaxsyncSync
import PaxsyncTestSupport
import Testing

func raw(_ n: Int) -> RawEntry { RawEntry(id: nil, body: [UInt8(n)], signature: [UInt8(n)]) }
func raw(_ entry: SignedEntry) -> RawEntry { RawEntry(id: entry.id, body: entry.body, signature: entry.signature) }
/// An entry that announces `id` (its body is not a real change set).
func raw(_ id: EntryID) -> RawEntry { RawEntry(id: id, body: [0], signature: []) }

@Suite("Sync session state machine")
struct SyncSessionTests {
    let members: Set<String> = ["AU", "JP", "KR"]

    func session(peer: String = "JP") -> SyncSession {
        SyncSession(localNodeID: "AU", certifiedPeerID: peer, members: members, now: 0)
    }

    func open() -> SyncSession {
        var s = session()
        _ = s.start(localVersionVector: ["AU": 3], now: 0)
        _ = s.received(.hello(.init(nodeID: "JP", versionVector: ["AU": 1, "JP": 4])), now: 1)
        return s
    }

    @Test("start sends a hello with the local version vector")
    func start() {
        var s = session()
        #expect(s.start(localVersionVector: ["AU": 3], now: 0) == [.send(.hello(.init(nodeID: "AU", versionVector: ["AU": 3])))])
        #expect(s.state == .awaitingHello)
    }

    @Test("a valid hello opens the session and records what the peer holds")
    func hello() {
        let s = open()
        #expect(s.state == .syncing)
        #expect(s.peerVersionVector == ["AU": 1, "JP": 4])
        #expect(s.peerLacks(["AU": 3]))
        #expect(!s.peerLacks(["AU": 1, "JP": 2]))
    }

    @Test("a hello naming another node than the certificate closes the session before any entry")
    func impostor() {
        var s = session()
        _ = s.start(localVersionVector: [:], now: 0)
        let actions = s.received(.hello(.init(nodeID: "KR", versionVector: [:])), now: 1)
        guard case .close(let reason, true) = actions.first else { Issue.record("not closed: \(actions)"); return }
        #expect(reason.contains("KR") && reason.contains("certificate names JP"))
        #expect(s.refusal == reason, "a refusal, which the server answers with permission denied")
        #expect(s.select([(EntryID(origin: "AU", seq: 1), raw(1))]).entries.isEmpty)
    }

    @Test("a node with a genesis states its coalition id and refuses a hello with another, or none")
    func coalition() {
        let ours = [UInt8](repeating: 0xAB, count: 32), theirs = [UInt8](repeating: 0xCD, count: 32)
        func attempt(peerStates: [UInt8]) -> (SyncSession, [SyncSession.Action]) {
            var s = SyncSession(localNodeID: "AU", certifiedPeerID: "JP", members: members, now: 0, coalitionID: ours)
            #expect(s.start(localVersionVector: [:], now: 0) == [.send(.hello(.init(nodeID: "AU", versionVector: [:], coalitionID: ours)))])
            let actions = s.received(.hello(.init(nodeID: "JP", versionVector: [:], coalitionID: peerStates)), now: 1)
            return (s, actions)
        }
        let (same, none) = (attempt(peerStates: ours), attempt(peerStates: []))
        #expect(same.0.state == .syncing && same.1.isEmpty)
        #expect(none.0.refusal == "peer JP states no coalition id; this node belongs to coalition \(ours.hex)")
        let other = attempt(peerStates: theirs)
        #expect(other.0.refusal == "peer JP belongs to coalition \(theirs.hex), not this node's \(ours.hex)")
        #expect(other.1 == [.close(reason: other.0.refusal!, notifyPeer: true)])
        // A node without a genesis takes no side.
        var plain = session()
        _ = plain.start(localVersionVector: [:], now: 0)
        _ = plain.received(.hello(.init(nodeID: "JP", versionVector: [:], coalitionID: theirs)), now: 1)
        #expect(plain.state == .syncing)
    }

    @Test("a peer not in the roster is refused at start")
    func notInRoster() {
        var s = session(peer: "FR")
        guard case .close(let reason, _) = s.start(localVersionVector: [:], now: 0).first else { Issue.record("not closed"); return }
        #expect(reason.contains("not in the roster") && s.refusal == reason)
    }

    @Test("protocol violations close the session", arguments: [
        SyncMessage.entries([raw(1)], caughtUp: false), .ack(versionVector: [:]), .heartbeat(sentAtMilliseconds: 1),
    ])
    func beforeHello(message: SyncMessage) {
        var s = session()
        _ = s.start(localVersionVector: [:], now: 0)
        guard case .close(let reason, true) = s.received(message, now: 1).first else { Issue.record("not closed"); return }
        #expect(reason.contains("before its hello"))
    }

    @Test("another protocol version or a second hello closes the session")
    func versions() {
        var s = session()
        _ = s.start(localVersionVector: [:], now: 0)
        #expect(s.received(.hello(.init(nodeID: "JP", protocolVersion: 9, versionVector: [:])), now: 1).count == 1)
        #expect(s.isClosed)
        var t = open()
        _ = t.received(.hello(.init(nodeID: "JP", versionVector: [:])), now: 2)
        #expect(t.isClosed)
    }

    @Test("entries go to the apply path; the ack carries the new version vector")
    func applyAndAck() {
        var s = open()
        #expect(s.received(.entries([raw(1), raw(2)], caughtUp: true), now: 2) == [.apply([raw(1), raw(2)])])
        #expect(s.applied(quarantined: 0, localVersionVector: ["JP": 6], now: 3) == [.send(.ack(versionVector: ["JP": 6]))])
    }

    @Test("only what the peer lacks is selected, and nothing is sent twice")
    func select() {
        var s = open()
        let candidates = [(EntryID(origin: "AU", seq: 1), raw(1)), (EntryID(origin: "AU", seq: 2), raw(2)),
                          (EntryID(origin: "JP", seq: 4), raw(3)), (EntryID(origin: "KR", seq: 1), raw(4))]
        #expect(s.select(candidates).entries == [raw(2), raw(4)], "AU:2 and the relayed KR:1")
        #expect(s.select(candidates).entries.isEmpty)
        _ = s.received(.ack(versionVector: ["AU": 9]), now: 5)
        #expect(s.peerVersionVector["AU"] == 9)
        _ = s.received(.ack(versionVector: ["AU": 2]), now: 6)
        #expect(s.peerVersionVector["AU"] == 9, "acks never lower what the peer is known to hold")
    }

    @Test("a peer that never sends its hello is dropped after three heartbeat intervals")
    func noHello() {
        var s = session()
        _ = s.start(localVersionVector: [:], now: 0)
        #expect(s.tick(now: SyncProtocol.heartbeatMilliseconds).isEmpty, "no heartbeats before the hello")
        guard case .close(let reason, true) = s.tick(now: 3 * SyncProtocol.heartbeatMilliseconds).first else {
            Issue.record("expected the session to close")
            return
        }
        #expect(reason.contains("silent") && s.isClosed && s.refusal == nil, "silence is not a refusal")
    }

    @Test("entries received from the peer are never offered back to it")
    func noEcho() {
        var s = open()
        let coalition = TestCoalition(["AU", "JP", "KR"])
        let kr = coalition.sign(ChangeSet(origin: "KR", seq: 1, hlc: HLC(physicalMilliseconds: TestTime.start, logical: 0),
                                          prevHash: [], changes: []))
        _ = s.received(.entries([raw(kr)], caughtUp: true), now: 2)
        #expect(s.peerVersionVector["KR"] == 1)
        #expect(s.select([(EntryID(origin: "KR", seq: 1), raw(kr))]).entries.isEmpty, "JP relayed KR:1 to us; it has it")
        let before = s.peerVersionVector
        let junk = RawEntry(id: nil, body: [0xFF, 0x01], signature: [])
        #expect(s.received(.entries([junk], caughtUp: true), now: 3) == [.apply([junk])], "the apply path judges it")
        #expect(s.peerVersionVector == before, "an entry whose body names no id claims nothing")
    }

    @Test("the next deadline is the silence limit before the hello, then the earlier of heartbeat and silence")
    func deadlines() {
        var s = session()
        _ = s.start(localVersionVector: [:], now: 0)
        #expect(s.nextDeadlineMilliseconds == 3 * SyncProtocol.heartbeatMilliseconds)
        _ = s.received(.hello(.init(nodeID: "JP", versionVector: [:])), now: 1_000)
        s.sent(now: 2_000)
        #expect(s.nextDeadlineMilliseconds == 2_000 + SyncProtocol.heartbeatMilliseconds)
        _ = s.received(.goodbye(reason: "bye"), now: 3_000)
        #expect(s.nextDeadlineMilliseconds == nil)
    }

    @Test("a batch over the protocol's size closes the session; the quarantine budget shrinks as entries are quarantined")
    func batchLimits() {
        var s = open()
        #expect(s.quarantineBudget == SyncProtocol.maxQuarantinedPerSession)
        _ = s.applied(quarantined: 40, localVersionVector: [:], now: 2)
        #expect(s.quarantineBudget == SyncProtocol.maxQuarantinedPerSession - 40)
        let big = Array(repeating: raw(1), count: SyncProtocol.maxBatchEntries + 1)
        guard case .close(let reason, true)? = s.received(.entries(big, caughtUp: false), now: 3).first else {
            Issue.record("expected the session to close")
            return
        }
        #expect(reason.contains("at most \(SyncProtocol.maxBatchEntries)") && s.isClosed)
    }

    @Test("an idle session heartbeats; a silent peer is dropped")
    func heartbeats() {
        var s = open()
        #expect(s.tick(now: 1000).isEmpty)
        #expect(s.tick(now: SyncProtocol.heartbeatMilliseconds + 1) == [.send(.heartbeat(sentAtMilliseconds: SyncProtocol.heartbeatMilliseconds + 1))])
        _ = s.received(.heartbeat(sentAtMilliseconds: 9), now: 6000)
        #expect(!s.isClosed)
        guard case .close(let reason, _) = s.tick(now: 6000 + 3 * SyncProtocol.heartbeatMilliseconds).first else {
            Issue.record("not closed"); return
        }
        #expect(reason.contains("silent"))
    }

    @Test("a peer sending too many entries that are quarantined is dropped")
    func badPeer() {
        var s = open()
        _ = s.applied(quarantined: SyncProtocol.maxQuarantinedPerSession - 1, localVersionVector: [:], now: 2)
        #expect(!s.isClosed)
        _ = s.applied(quarantined: 1, localVersionVector: [:], now: 3)
        #expect(s.isClosed)
    }

    @Test("once caught up, a third member's entry waits for the relay delay; own entries go at once, without what waits before them")
    func relayDelay() {
        var s = open()   // AU's session with JP, which holds AU:1 and JP:4
        let delay = SyncProtocol.relayDelayMilliseconds
        let kr1 = (EntryID(origin: "KR", seq: 1), raw(1))
        let kr2 = (EntryID(origin: "KR", seq: 2), raw(2))
        let au2 = (EntryID(origin: "AU", seq: 2), raw(3))
        // During catch-up nothing waits.
        var t = open()
        #expect(t.select([kr1], now: 10, relay: false) == .init(entries: [raw(1)], consumed: 1, total: 1))
        // After it, KR's entries wait, in order, and the deadline says until when.
        var pick = s.select([kr1, kr2], now: 10, relay: true)
        #expect(pick.entries.isEmpty && pick.consumed == 0 && pick.heldBack == 2)
        #expect(s.relayDeadlineMilliseconds == 10 + delay)
        #expect(s.nextDeadlineMilliseconds == 10 + delay)
        // Offered again before the deadline: still waiting, first-seen kept.
        pick = s.select([kr1, kr2], now: 10 + delay - 1, relay: true)
        #expect(pick.heldBack == 2)
        // The deadline passes: both go, in order.
        _ = s.tick(now: 10 + delay)
        pick = s.select([kr1, kr2], now: 10 + delay, relay: true)
        #expect(pick.entries == [raw(1), raw(2)] && pick.consumed == 2)
        #expect(s.relayDeadlineMilliseconds == nil)
        // An own entry behind a waiting relay goes alone: the relay keeps waiting
        // (the peer most likely has it from its origin already), and the own entry
        // is not sent again when both are offered again.
        var u = open()
        pick = u.select([kr1, au2], now: 10, relay: true)
        #expect(pick.entries == [raw(3)] && pick.consumed == 0 && pick.heldBack == 2)
        #expect(u.relayDeadlineMilliseconds == 10 + delay)
        pick = u.select([kr1, au2], now: 11, relay: true)
        #expect(pick.entries.isEmpty && pick.consumed == 0)
        // A superseded own entry (absent from the peer's version vector) is not sent twice either.
        var superseded = raw(5)
        superseded.superseded = true
        let au3 = (EntryID(origin: "AU", seq: 3), superseded)
        pick = u.select([kr1, au2, au3], now: 12, relay: true)
        #expect(pick.entries == [superseded] && pick.consumed == 0)
        pick = u.select([kr1, au2, au3], now: 13, relay: true)
        #expect(pick.entries.isEmpty)
        // The relay's wait ends: it goes, and everything is consumed.
        _ = u.tick(now: 10 + delay)
        pick = u.select([kr1, au2, au3], now: 10 + delay, relay: true)
        #expect(pick.entries == [raw(1)] && pick.consumed == 3 && pick.heldBack == 0)
        #expect(u.relayDeadlineMilliseconds == nil)
        // A relay after the own entry waits alone.
        var v = open()
        pick = v.select([au2, kr1], now: 10, relay: true)
        #expect(pick.entries == [raw(3)] && pick.consumed == 1 && pick.heldBack == 1)
    }

    @Test("a waiting relay is skipped once the peer advertises it holds it; advertisements say only what the peer does not know")
    func advertisedRelay() {
        var s = open()
        let kr1 = (EntryID(origin: "KR", seq: 1), raw(1))
        #expect(s.select([kr1], now: 10, relay: true).heldBack == 1)
        // JP got KR:1 from KR itself and says so in a heartbeat.
        #expect(s.received(.heartbeat(sentAtMilliseconds: 11, holds: ["KR": 1, "JP": 5]), now: 11).isEmpty)
        #expect(s.peerVersionVector["KR"] == 1 && s.peerVersionVector["JP"] == 5)
        let pick = s.select([kr1], now: 12, relay: true)
        #expect(pick.entries.isEmpty && pick.consumed == 1 && pick.heldBack == 0, "nothing relayed: JP has it")
        #expect(s.relayDeadlineMilliseconds == nil)
        // AU advertises what JP does not know AU holds; once, not again.
        #expect(s.advertisement(localVersionVector: ["AU": 3], now: 13) == nil, "the hello said AU:3")
        #expect(s.advertisement(localVersionVector: ["AU": 3, "KR": 1], now: 14) == .heartbeat(sentAtMilliseconds: 14, holds: ["AU": 3, "KR": 1]))
        #expect(s.advertisement(localVersionVector: ["AU": 3, "KR": 1], now: 15) == nil)
        // Entries JP sent and the ack of them count as known too.
        _ = s.received(.entries([raw(EntryID(origin: "KR", seq: 2))], caughtUp: true), now: 16)
        #expect(s.advertisement(localVersionVector: ["AU": 3, "KR": 2], now: 17) == nil, "JP sent KR:2 itself")
        // Before the hello, nothing is advertised.
        var t = session()
        _ = t.start(localVersionVector: [:], now: 0)
        #expect(t.advertisement(localVersionVector: ["KR": 1], now: 1) == nil)
    }

    @Test("advertisements are rate-limited: one held back is due at the end of the interval, with what is held by then")
    func advertiseInterval() {
        var s = open()
        let interval = SyncProtocol.advertiseIntervalMilliseconds
        #expect(s.advertisement(localVersionVector: ["AU": 3, "KR": 1], now: 100) == .heartbeat(sentAtMilliseconds: 100, holds: ["AU": 3, "KR": 1]))
        #expect(s.advertisement(localVersionVector: ["AU": 3, "KR": 2], now: 101) == nil, "too soon")
        #expect(s.advertiseDeadlineMilliseconds == 100 + interval)
        #expect(s.nextDeadlineMilliseconds == 100 + interval)
        _ = s.tick(now: 100 + interval)
        #expect(s.advertiseDeadlineMilliseconds == nil)
        #expect(s.advertisement(localVersionVector: ["AU": 3, "KR": 3], now: 100 + interval)
                == .heartbeat(sentAtMilliseconds: 100 + interval, holds: ["AU": 3, "KR": 3]))
        #expect(SyncProtocol.advertiseIntervalMilliseconds * 2 <= SyncProtocol.relayDelayMilliseconds,
                "a peer hears of an entry well before it would relay it")
    }

    @Test("what a peer says it holds is kept only for roster members")
    func strangersInVectors() {
        var s = session()
        _ = s.start(localVersionVector: [:], now: 0)
        _ = s.received(.hello(.init(nodeID: "JP", versionVector: ["JP": 2, "ZZ": 9])), now: 1)
        _ = s.received(.ack(versionVector: ["KR": 1, "QQ": 4]), now: 2)
        _ = s.received(.heartbeat(sentAtMilliseconds: 3, holds: ["AU": 1, "XX": 7]), now: 3)
        #expect(s.peerVersionVector == ["JP": 2, "KR": 1, "AU": 1])
    }

    @Test("a goodbye closes without answering")
    func goodbye() {
        var s = open()
        #expect(s.received(.goodbye(reason: "shutting down"), now: 2) == [.close(reason: "peer JP ended the session: shutting down", notifyPeer: false)])
        #expect(s.received(.entries([raw(1)], caughtUp: false), now: 3).isEmpty)
    }
}

@Suite("Reconnection backoff")
struct BackoffTests {
    @Test("delays grow exponentially with jitter, are capped, and reset")
    func growth() {
        var rng = SplitMix64(seed: 3)
        var b = Backoff(initialMilliseconds: 100, maximumMilliseconds: 5000)
        let delays = (0..<10).map { _ in b.next(using: &rng) }
        for (i, d) in delays.enumerated() {
            let ceiling = min(5000, 100 << UInt64(i))
            #expect(d >= ceiling / 2 && d <= ceiling, "attempt \(i): \(d)")
        }
        #expect(delays.last! <= 5000)
        b.reset()
        #expect(b.next(using: &rng) <= 100)
    }
}
