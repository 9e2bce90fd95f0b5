import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore

extension NodeStatus {
    /// Builds the status from the replica and, when the daemon runs, its peer registry.
    public static func build(replica: Replica, version: String, daemon: (facts: DaemonFacts, registry: PeerRegistry)?,
                             now: Date = Date()) throws -> NodeStatus {
        let snapshot = try replica.statusSnapshot()
        let nowMs = UInt64(now.timeIntervalSince1970 * 1000)
        var known = snapshot.versionVector
        var peers: [Peer] = []
        if let (facts, registry) = daemon {
            for id in facts.peers {
                let s = registry.statistics(id)
                let peerVV = registry.versionVector(of: id)
                let errors = registry.recentErrors(id)
                known.formUnion(peerVV)
                let behind = snapshot.versionVector.entries(beyond: peerVV)
                peers.append(Peer(id: id, address: replica.roster.member(id)?.address ?? "", connected: s?.connected ?? false,
                                  since: s?.since.map(iso8601), lastContact: s?.lastContact.map(iso8601), sessions: s?.sessions ?? 0,
                                  entriesIn: s?.entriesIn ?? 0, entriesOut: s?.entriesOut ?? 0,
                                  bytesIn: s?.bytesIn ?? 0, bytesOut: s?.bytesOut ?? 0,
                                  advertisementsIn: s?.advertisementsIn ?? 0, advertisementsOut: s?.advertisementsOut ?? 0,
                                  behindEntries: s == nil ? 0 : behind, lastError: errors.last?.message,
                                  lastErrorAt: errors.last.map { iso8601($0.at) },
                                  recentErrors: errors.map { PeerError(message: $0.message, at: iso8601($0.at)) }))
            }
        }
        let originStates = Dictionary(uniqueKeysWithValues: snapshot.origins.map { ($0.origin, $0) })
        let origins = replica.memberIDs.union(known.origins).sorted().map { origin -> Origin in
            let state = originStates[origin]
            let held = snapshot.versionVector[origin]
            let top = max(held, known[origin])
            let lastMs = state?.lastMilliseconds
            return Origin(origin: origin, heldSeq: held, knownSeq: top, lagEntries: top - held,
                          lagSeconds: top > held ? lastMs.map { Double(nowMs.subtractingClamped($0)) / 1000 } : nil,
                          lastEntryAt: state?.lastTime, state: (state?.status ?? .ok).rawValue, reason: state?.reason,
                          release: releaseCommand(origin: origin, status: state?.status, next: held + 1, equivocations: snapshot.equivocations))
        }
        let pending = replica.governance.proposals.values.filter(\.isPending).sorted { $0.stamp < $1.stamp }.map { p in
            PendingProposal(proposal: p.id.description, decision: p.decision.description, approvals: p.approvals.map(\.member),
                            needed: p.needed, missing: p.missing)
        }
        return NodeStatus(
            node: replica.nodeID, version: version, daemonRunning: daemon != nil,
            startedAt: daemon.map { iso8601($0.facts.startedAt) },
            uptimeSeconds: daemon.map { now.timeIntervalSince($0.facts.startedAt) },
            listen: daemon?.facts.listen, generatedAt: iso8601(now),
            roster: replica.roster.members.map { Member(id: $0.id, country: $0.country, name: $0.name, address: $0.address) },
            peers: peers, origins: origins, held: snapshot.held, quarantined: snapshot.quarantined,
            equivocations: snapshot.equivocations, openConflicts: snapshot.openConflicts, logEntries: snapshot.logEntries,
            replicaBytes: replicaFileBytes(replica.path),
            refusedCertificates: daemon.map { $0.registry.recentCertificateRefusals.map { PeerError(message: $0.message, at: iso8601($0.at)) } },
            localWritesPaused: try replica.localWritePause().map { pause in
                "\(pause.reason), since \(CivilTime.iso8601(milliseconds: pause.sinceMilliseconds))"
                    + (pause.awaitingSeq.map { "; waiting for \(replica.nodeID):\($0) to come back" } ?? "; waiting for a peer to confirm the head")
            }, pendingProposals: pending)
    }

    /// The command that proposes the decision releasing a blocked origin (§3.5), or nil.
    static func releaseCommand(origin: String, status: OriginStatus?, next: UInt64, equivocations: [EquivocationItem]) -> String? {
        switch status {
        case .quarantined?:
            return "paxsync entry void \(origin):\(next) --reason \"…\" (then a quorum approves: paxsync member approve)"
        case .equivocating?:
            guard let e = equivocations.first(where: { $0.entry.hasPrefix("\(origin):") }) else { return nil }
            return "paxsync equivocation resolve \(e.entry) --keep \(e.hashA) or \(e.hashB) --reason \"…\" (then a quorum approves)"
        default:
            return nil
        }
    }

    static func iso8601(_ date: Date) -> String {
        CivilTime.iso8601(milliseconds: UInt64(max(0, date.timeIntervalSince1970) * 1000))
    }
}

extension UInt64 {
    func subtractingClamped(_ other: UInt64) -> UInt64 { self > other ? self - other : 0 }
}

/// Bytes of the replica file and its write-ahead log.
public func replicaFileBytes(_ path: String) -> Int {
    [path, path + "-wal"].reduce(0) { sum, file in
        sum + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0)
    }
}
