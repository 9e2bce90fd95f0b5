// Write → visible latency of honest peers while the coalition is attacked:
// connections that never finish their TLS handshake, and a certified member
// streaming junk entry batches, against real `paxsync serve` processes.
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOPosix
import PaxsyncCluster
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore
import PaxsyncSync
import PaxsyncTestSupport
import PaxsyncWire
import Synchronization

/// Five honest nodes and a sixth member, XX, whose certificate and key the
/// attacker holds (it runs no daemon). Latency is measured as in `latency`
/// (writer and reader rotating, the writer ringing its daemon), in four phases:
/// quiet, a handshake flood, junk batches, and both at once.
func attackBench(writes: Int, floodPerNode: Int = 300) throws {
    let executable = try paxsyncExecutable()
    let dir = TemporaryDirectory("paxsync-bench-attack")
    let ids = ["SG", "AU", "JP", "KR", "IL"]
    let attacker = "XX"
    let coalition = try LocalCoalition(base: dir.file("coalition"),
                                       members: (ids + [attacker]).map { .init(id: $0, country: $0 == attacker ? "NZ" : $0, name: $0) },
                                       executable: executable)
    defer { coalition.stopAll() }
    var rig = try LatencyRig(coalition, ids)
    let readers = rig.readers
    let ports = try ids.map { id -> Int in
        let address = coalition.roster.member(id)?.address ?? ""
        guard let port = address.split(separator: ":").last.flatMap({ Int($0) }) else {
            throw PaxsyncError(.badInput, "no port in the listen address \(address)", subject: id)
        }
        return port
    }
    let attackerTLS = TLSFiles(directory: coalition.dataDir(attacker) + "/tls")

    /// CPU seconds per phase: this process (the attacker and the measuring) and the five nodes together.
    var cpu: [(attacker: Double, nodes: Double, seconds: Double)] = []
    func nodesCPU() -> Double { ids.compactMap { coalition.pid($0).flatMap { cpuSeconds(pid: $0) } }.reduce(0, +) }
    func measure(_ phase: String) throws -> [Double] {
        let (selfBefore, nodesBefore, began) = (cpuSeconds() ?? 0, nodesCPU(), DispatchTime.now().uptimeNanoseconds)
        defer {
            cpu.append(((cpuSeconds() ?? 0) - selfBefore, nodesCPU() - nodesBefore,
                        Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9))
        }
        return try rig.measure(writes, label: phase)
    }

    // Phase 1: quiet.
    let quiet = try measure("quiet")

    // Phase 2: stalled handshakes, from many source addresses (127.0.0.2 and
    // up, a few each, under the per-address cap) so the global cap is what holds.
    let flood = HandshakeFlood(ports: ports, perNode: floodPerNode)
    flood.start()
    try waitUntil("the flood's first \(floodPerNode * ports.count) connections", timeout: 60) {
        flood.opened.load(ordering: .relaxed) >= floodPerNode * ports.count
    }
    let flooded = try measure("handshake flood")

    // Control: no attack, but a thread here burning the CPU the flood phase took
    // in this process, so the cost of the attack itself stands apart from the
    // cost of sharing two cores with the attacker.
    flood.stop()
    let share = cpu[1].attacker / cpu[1].seconds
    let burners = (0..<Int(share.rounded(.up))).map { i in CPUBurner(fraction: min(1, share - Double(i))) }
    let controlled = try measure("CPU control")
    burners.forEach { $0.stop() }

    // Phase 3: junk batches from the certified member XX, to every node, as fast as it can.
    let roster = coalition.roster
    let junk = JunkStreamer(ports: Array(zip(ids, ports)), as: attacker, tls: attackerTLS,
                            check: try attackerTLS.peerCheck(roster: { roster }))
    let junkTask = Task { await junk.run() }
    try waitUntil("the first junk batch accepted for judgement", timeout: 60) { junk.batchesSent.load(ordering: .relaxed) > 0 }
    let junked = try measure("junk batches")

    // Phase 4: both.
    let flood2 = HandshakeFlood(ports: ports, perNode: floodPerNode)
    flood2.start()
    let both = try measure("flood and junk")
    flood2.stop()
    junkTask.cancel()
    FileHandle.standardError.write(Data("\n".utf8))

    // What the attack left behind: bounded quarantine, memory, equal digests.
    try waitUntil("digests equal after the attack", timeout: 60) {
        Set(try ids.map { try readers[$0]!.digest().hex }).count == 1
    }
    let quarantined = try ids.map { id in try readers[id]!.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM paxsync_quarantine") ?? 0 } }
    let peaks = ids.map { id in coalition.pid(id).flatMap { peakResidentBytes(pid: $0) } }

    func p(_ samples: [Double], _ q: Double) -> Double { PaxsyncBench.percentile(samples, q) }
    func row(_ name: String, _ s: [Double], _ phase: Int) -> String {
        let pad = name.padding(toLength: 20, withPad: " ", startingAt: 0)
        let c = cpu[phase]
        return pad + String(format: "%7.1f ms %7.1f ms %7.1f ms  %5.2f × %5.2f ×   %4.0f%% %4.0f%%", p(s, 0.5), p(s, 0.99), s.last!,
                            p(s, 0.5) / p(quiet, 0.5), p(s, 0.99) / p(quiet, 0.99),
                            100 * c.nodes / c.seconds, 100 * c.attacker / c.seconds)
    }
    print("""
        paxsync-bench attack: \(writes) writes per phase across 5 nodes (full mesh, mutual TLS on loopback), writer and reader
        rotating; the attacker runs in this process (its CPU is taken from the same 2 cores as the nodes')
        handshake flood: \(floodPerNode) connections per node that never send a byte, from 127.0.0.2 and up (\
        \(HandshakeFlood.perSource) per source address), reopened as soon as a node closes one
        junk batches: member \(attacker)'s real certificate, sessions to every node, batches of 200 junk entries until refused
        CPU control: no attack; a thread here burning \(String(format: "%.0f%%", 100 * share)) of a core, what the flood took in this process

        phase                 median      p99        max  p50/quiet p99/quiet  CPU: nodes, this process (% of a core)
        \(row("quiet (baseline)", quiet, 0))
        \(row("handshake flood", flooded, 1))
        \(row("CPU control", controlled, 2))
        \(row("junk batches", junked, 3))
        \(row("flood and junk", both, 4))

        flood connections opened            \(flood.opened.load(ordering: .relaxed) + flood2.opened.load(ordering: .relaxed)) \
        (closed by the nodes: \(flood.closed.load(ordering: .relaxed) + flood2.closed.load(ordering: .relaxed)))
        junk sessions / batches sent         \(junk.sessions.load(ordering: .relaxed)) / \(junk.batchesSent.load(ordering: .relaxed)) \
        (\(junk.batchesSent.load(ordering: .relaxed) * JunkStreamer.batchSize) junk entries)
        quarantine rows per node            \(zip(ids, quarantined).map { "\($0) \($1)" }.joined(separator: ", "))
        peak RSS per node (VmHWM)           \(zip(ids, peaks).map { "\($0) \(megabytes($1))" }.joined(separator: ", "))
        digests equal                       yes
        """)
}

/// Connections that never send a byte: each node's TLS handshake waits for a
/// ClientHello that never comes. Reopened as soon as the node closes one.
final class HandshakeFlood: Sendable {
    static let perSource = 4
    let ports: [Int]
    let perNode: Int
    let opened = Atomic<Int>(0)
    let closed = Atomic<Int>(0)
    let stopped = Atomic<Bool>(false)
    let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    init(ports: [Int], perNode: Int) {
        self.ports = ports
        self.perNode = perNode
    }

    func start() {
        for port in ports {
            for i in 0..<perNode { connect(port: port, source: i / Self.perSource) }
        }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        for channel in channels.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }

    private func connect(port: Int, source: Int) {
        guard !stopped.load(ordering: .relaxed) else { return }
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .bind(to: try! SocketAddress(ipAddress: "127.0.0.\(2 + source % 250)", port: 0))
        bootstrap.connect(host: "127.0.0.1", port: port).whenComplete { result in
            switch result {
            case .success(let channel):
                self.opened.add(1, ordering: .relaxed)
                let key = ObjectIdentifier(channel)
                self.channels.withLock { $0[key] = channel }
                channel.closeFuture.whenComplete { _ in
                    self.closed.add(1, ordering: .relaxed)
                    self.channels.withLock { _ = $0.removeValue(forKey: key) }
                    self.connect(port: port, source: source)
                }
            case .failure:
                // Refused or timed out: try again shortly.
                MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: .milliseconds(100)) {
                    self.connect(port: port, source: source)
                }
            }
        }
    }
}

/// A certified member sending batches of junk entries (distinct bytes with junk
/// signatures) to every node, session after session, until cancelled.
final class JunkStreamer: Sendable {
    static let batchSize = 200
    let ports: [(String, Int)]
    let id: String
    let tls: TLSFiles
    let sessions = Atomic<Int>(0)
    let batchesSent = Atomic<Int>(0)
    let counter = Atomic<Int>(0)

    let check: PeerCertificateCheck

    init(ports: [(String, Int)], as id: String, tls: TLSFiles, check: PeerCertificateCheck) {
        self.check = check
        self.ports = ports
        self.id = id
        self.tls = tls
    }

    func run() async {
        await withTaskGroup(of: Void.self) { group in
            for (node, port) in ports {
                group.addTask {
                    while !Task.isCancelled {
                        await self.session(node: node, port: port)
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                }
            }
        }
    }

    func batch() -> Paxsync_V1_SyncMessage {
        var batch = Paxsync_V1_EntryBatch()
        batch.entries = (0..<Self.batchSize).map { _ in
            let n = counter.add(1, ordering: .relaxed).newValue
            var entry = Paxsync_V1_SignedEntry()
            entry.body = Data([0xFF] + withUnsafeBytes(of: UInt64(n).bigEndian, Array.init))
            entry.signature = Data(repeating: 7, count: 64)
            return entry
        }
        var message = Paxsync_V1_SyncMessage()
        message.entries = batch
        return message
    }

    /// One session: hello, then junk batches until the node closes the stream.
    func session(node: String, port: Int) async {
        sessions.add(1, ordering: .relaxed)
        var config = HTTP2ClientTransport.Posix.Config.defaults
        config.http2.authority = CoalitionPKI.dnsName(forNode: node)
        guard let transport = try? HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port),
                                                               transportSecurity: tls.clientSecurity(check: check, dialed: node) { _ in },
                                                               config: config) else { return }
        let hello = SyncMessage.hello(.init(nodeID: id, versionVector: [:])).toWire()
        let closed = Atomic<Bool>(false)
        try? await withGRPCClient(transport: transport) { client in
            try await Paxsync_V1_Sync.Client(wrapping: client).session { writer in
                try await writer.write(hello)
                // A pause between batches: in debug builds grpc-swift-nio-transport
                // asserts ("Client is closed, cannot send a message") when a write
                // races the server ending the stream; release builds poison the
                // stream and throw instead. The pause keeps a debug run going; at
                // ≤ 1,000 batches a second a node still gets far more than it judges.
                while !Task.isCancelled && !closed.load(ordering: .relaxed) {
                    try await writer.write(self.batch())
                    self.batchesSent.add(1, ordering: .relaxed)
                    try await Task.sleep(for: .milliseconds(1))
                }
            } onResponse: { response in
                defer { closed.store(true, ordering: .relaxed) }
                for try await _ in response.messages {}
            }
        }
    }
}

/// A thread that uses `fraction` of one core's time (its own CPU time, not wall
/// time: under contention it spins longer) until stopped: the attacker's CPU use
/// without the attack.
final class CPUBurner: Sendable {
    let running = Atomic<Bool>(true)

    init(fraction: Double) {
        let target = max(0, min(1, fraction))
        Thread.detachNewThread { [self] in
            let began = DispatchTime.now().uptimeNanoseconds
            while self.running.load(ordering: .relaxed) {
                let wall = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
                if Self.threadCPUSeconds() < target * wall {
                    for _ in 0..<10_000 { _ = self.running.load(ordering: .relaxed) }   // spin a little
                } else {
                    Thread.sleep(forTimeInterval: 0.001)
                }
            }
        }
    }

    static func threadCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    func stop() { running.store(false, ordering: .relaxed) }
}
