import Foundation
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncTestSupport
import Testing
import X509

@Suite("TLS pins: the roster, not the CA, says whose key a peer's certificate must carry")
struct TLSPinCheckTests {
    let dir = TemporaryDirectory("paxsync-pin")

    func chain(_ tls: TLSFiles) throws -> [Certificate] {
        [try Certificate(pemEncoded: String(contentsOfFile: tls.certificate, encoding: .utf8))]
    }

    @Test("the pin is SHA-256 of the DER SubjectPublicKeyInfo, as openssl computes it")
    func pinMatchesOpenSSL() throws {
        let tls = try TestPKI(dir: dir).selfSigned("JP")
        let script = "openssl x509 -in '\(tls.certificate)' -pubkey -noout | openssl pkey -pubin -outform der | sha256sum"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let expected = String(text.prefix(64))
        #expect(RosterMember.isValidTLSPin(expected), "\(text)")
        #expect(try pin(tls) == expected)
    }

    @Test("verdicts: pinned key accepted whoever signed it; another key refused even from the CA; unpinned needs the CA")
    func verdicts() async throws {
        let pki = try TestPKI(dir: dir)
        let selfSigned = try pki.selfSigned("JP")
        let fromCA = try pki.issue("JP")
        var coalition = TestCoalition(["AU", "JP", "KR"])
        coalition.roster.members[1].tlsPin = try pin(selfSigned)
        let roster = coalition.roster
        let roots = [try Certificate(pemEncoded: pki.ca.certificatePEM)]
        let check = PeerCertificateCheck(roster: { roster }, roots: roots)
        let now = Date()

        #expect(await check.verdict(chain: try chain(selfSigned), dialed: nil, now: now) == .accepted(member: "JP"))
        #expect(await check.verdict(chain: try chain(selfSigned), dialed: "JP", now: now) == .accepted(member: "JP"))
        guard case .refused(let reason) = await check.verdict(chain: try chain(fromCA), dialed: nil, now: now) else {
            Issue.record("a CA certificate with another key than JP's pin was accepted")
            return
        }
        #expect(reason.contains("not the key the roster pins for JP (\(try pin(selfSigned)))"), "\(reason)")
        // Dates still count for a pinned certificate.
        #expect(await check.verdict(chain: try chain(selfSigned), dialed: nil, now: now.addingTimeInterval(31 * 86400))
            == .refused("the certificate for JP expired at \(try chain(selfSigned)[0].notValidAfter)"))
        // The dialer wants the member it dialed.
        #expect(await check.verdict(chain: try chain(selfSigned), dialed: "KR", now: now) == .refused("dialed KR, but the certificate names JP"))
        // KR has no pin: its CA certificate is accepted, a self-signed one is not.
        #expect(await check.verdict(chain: try chain(try pki.issue("KR")), dialed: nil, now: now) == .accepted(member: "KR"))
        guard case .refused(let unpinned) = await check.verdict(chain: try chain(try pki.selfSigned("KR")), dialed: nil, now: now) else {
            Issue.record("a self-signed certificate for an unpinned member was accepted")
            return
        }
        #expect(unpinned.contains("does not verify against the coalition CA"), "\(unpinned)")
        // Without a CA, an unpinned member cannot be vouched for at all.
        let noCA = PeerCertificateCheck(roster: { roster }, roots: [])
        #expect(await noCA.verdict(chain: try chain(try pki.issue("KR")), dialed: nil, now: now)
            == .refused("the roster pins no TLS key for KR and this node has no coalition CA to check its certificate against"))
        #expect(await noCA.verdict(chain: try chain(try pki.issue("FR")), dialed: nil, now: now) == .refused("FR is not in this node's roster"))
    }

    @Test("a roster pin must be 64 lowercase hex digits; merging learns a pin, and refuses a different one")
    func rosterPins() throws {
        var roster = TestCoalition(["AU", "JP"]).roster
        roster.members[1].tlsPin = String(repeating: "A", count: 64)
        #expect(throws: PaxsyncError.self) { try Roster.decode(roster.encoded(), source: "roster.json") }
        do {
            _ = try Roster.decode(roster.encoded(), source: "roster.json")
        } catch {
            #expect(error.subject == "roster.json: member JP" && error.message.hasPrefix("tlsPin must be the SHA-256"), "\(error)")
        }
        let pin = String(repeating: "ab", count: 32)
        roster.members[1].tlsPin = pin
        let pinned = try Roster.decode(roster.encoded(), source: "roster.json")
        #expect(pinned.member("JP")?.tlsPin == pin)
        let plain = TestCoalition(["AU", "JP"]).roster
        #expect(!String(decoding: plain.encoded(), as: UTF8.self).contains("tlsPin"), "an unpinned roster is written as before")
        #expect(try plain.merging(pinned, source: "other.json").roster.member("JP")?.tlsPin == pin)
        var other = pinned
        other.members[1].tlsPin = String(repeating: "cd", count: 32)
        #expect(throws: PaxsyncError.self) { try pinned.merging(other, source: "other.json") }
    }
}

@Suite("TLS pins on real mutual-TLS sessions", .serialized, .timeLimit(.minutes(2)))
struct TLSPinSessionTests {
    let dir = TemporaryDirectory("paxsync-pin-net")

    /// Serves AU (to JP only) while JP dials it, until `done` holds (30 s at most: a refusal can take a while under load).
    func dialUntil(_ jp: NetNode, servedBy au: NetNode, _ what: String, _ done: @escaping () -> Bool) async throws {
        let server = try SyncServer(replica: au.replica, configuration: SyncConfiguration(
            listenHost: "127.0.0.1", listenPort: 0, tls: au.tls, peers: ["JP"]), registry: au.registry, logger: au.logger)
        try await withServers([server]) {
            let port = try #require(try await server.port)
            try await whileDialing(from: jp, to: "AU", port: port) {
                try await eventually(what, seconds: 30) { done() }
            }
        }
    }

    @Test("self-signed certificates pinned in the roster sync with no CA at all")
    func selfSignedPinned() async throws {
        let pki = try TestPKI(dir: dir)
        let auTLS = try pki.selfSigned("AU"), jpTLS = try pki.selfSigned("JP")
        var coalition = TestCoalition(["AU", "JP"])
        coalition.roster.members[0].tlsPin = try pin(auTLS)
        coalition.roster.members[1].tlsPin = try pin(jpTLS)
        let au = try NetNode("AU", coalition: coalition, pki: pki, dir: dir, tls: auTLS)
        let jp = try NetNode("JP", coalition: coalition, pki: pki, dir: dir, tls: jpTLS)
        #expect(!auTLS.hasCA && !jpTLS.hasCA)
        try au.replica.commit([Records.facility("AU-A")])
        try jp.replica.commit([Records.facility("JP-B", country: "JP")])
        try await withNetwork([au, jp], links: [("AU", "JP")]) {
            try await eventually("both hold both entries") { try au.replica.logCount() == 2 && jp.replica.logCount() == 2 }
        }
        #expect(try au.replica.digest() == jp.replica.digest())
    }

    @Test("a certificate from the coalition CA for a pinned member with another key is refused at the handshake")
    func caCannotOverridePin() async throws {
        let pki = try TestPKI(dir: dir)
        let jpReal = try pki.issue("JP"), jpForged = try pki.issue("JP", tag: "forged")
        var coalition = TestCoalition(["AU", "JP"])
        coalition.roster.members[1].tlsPin = try pin(jpReal)
        let au = try NetNode("AU", coalition: coalition, pki: pki, dir: dir)
        try au.replica.commit([Records.facility("AU-SECRET")])
        let jp = try NetNode("JP", coalition: coalition, pki: pki, dir: dir, tls: jpForged)
        try await dialUntil(jp, servedBy: au, "AU refuses JP's certificate") { !au.registry.recentCertificateRefusals.isEmpty }
        #expect(try jp.replica.logCount() == 0, "nothing crosses to a certificate the pin refuses")
        let reason = try #require(au.registry.recentCertificateRefusals.last?.message)
        #expect(reason == "the certificate for JP has key \(try pin(jpForged)), not the key the roster pins for JP (\(try pin(jpReal)))")
    }

    @Test("the dialer refuses a server whose certificate does not carry the pinned key, and says so in the peer's error")
    func dialerChecksPin() async throws {
        let pki = try TestPKI(dir: dir)
        let auReal = try pki.issue("AU"), auForged = try pki.issue("AU", tag: "forged")
        var coalition = TestCoalition(["AU", "JP"])
        coalition.roster.members[0].tlsPin = try pin(auReal)
        let au = try NetNode("AU", coalition: coalition, pki: pki, dir: dir, tls: auForged)
        try au.replica.commit([Records.facility("AU-SECRET")])
        let jp = try NetNode("JP", coalition: coalition, pki: pki, dir: dir)
        try await dialUntil(jp, servedBy: au, "JP's dial fails") { jp.registry.lastError("AU") != nil }
        #expect(try jp.replica.logCount() == 0)
        let error = try #require(jp.registry.lastError("AU"))
        #expect(error.hasPrefix("refused the peer's TLS certificate: the certificate for AU has key \(try pin(auForged))"), "\(error)")
    }
}
