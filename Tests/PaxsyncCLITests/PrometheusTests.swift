import Foundation
import PaxsyncCluster
import PaxsyncTestSupport
import Testing

/// Deploy/prometheus against a real `prometheus` server scraping a real node:
/// the scrape config's shape, a series queried through Prometheus' HTTP API,
/// and the shipped alert for a downed peer firing (its `for:` shortened).
@Suite("monitoring: a real Prometheus scrapes a node and fires the peer-down alert", .serialized,
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus"),
                "prometheus is not installed (Debian package prometheus; .ci/run installs it)"))
struct PrometheusTests {
    /// The shipped alert rules with every `for:` set to 0s, so a test need not wait minutes.
    func rulesWithoutDelays() throws -> String {
        let shipped = try String(contentsOf: packageRoot.appendingPathComponent("Deploy/prometheus/alerts.yml"), encoding: .utf8)
        return shipped.replacing(/for: *\d+[smhd]/, with: "for: 0s")
    }

    /// `GET path` on Prometheus' API, decoded; nil while it does not answer.
    func api(_ port: Int, _ path: String) -> [String: Any]? {
        guard let response = try? httpGet("http://127.0.0.1:\(port)\(path)"),
              let body = response.range(of: "\r\n\r\n").map({ response[$0.upperBound...] }) else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
    }

    @Test("prometheus scrapes AU's /metrics, answers a query for a paxsync series, and fires PaxsyncPeerDisconnected when JP stops",
          .timeLimit(.minutes(3)))
    func scrapeAndAlert() async throws {
        let dir = TemporaryDirectory("paxsync-prometheus")
        let c = try LocalCoalition(base: dir.file("coalition"), members: ["AU", "JP"].map { .init(id: $0, country: $0, name: $0) },
                                   executable: Paxsync.binary) { id, config in
            if id == "AU" { config.metricsListen = "127.0.0.1:0" }
        }
        defer { c.stopAll() }
        try c.start("AU")
        try c.start("JP")
        let metricsPort = try await loggedPort(c, "AU", "metrics endpoint listening")

        // The shipped scrape config, pointed at AU's endpoint, every second.
        let shipped = try String(contentsOf: packageRoot.appendingPathComponent("Deploy/prometheus/prometheus.yml"), encoding: .utf8)
        let config = shipped
            .replacing("127.0.0.1:9464", with: "127.0.0.1:\(metricsPort)")
            .replacing(/scrape_interval: *\d+s/, with: "scrape_interval: 1s")
            .replacing(/evaluation_interval: *\d+s/, with: "evaluation_interval: 1s")
        try config.write(toFile: dir.file("prometheus.yml"), atomically: true, encoding: .utf8)
        try rulesWithoutDelays().write(toFile: dir.file("alerts.yml"), atomically: true, encoding: .utf8)

        // The listen port is picked before prometheus binds it: if another
        // process took it meanwhile, prometheus exits, and it is started again
        // on another port.
        var started: (process: Process, port: Int)?
        for _ in 0..<3 where started == nil {
            let port = LoopbackPorts.reserve()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
            process.arguments = ["--config.file=\(dir.file("prometheus.yml"))", "--storage.tsdb.path=\(dir.file("tsdb-\(port)"))",
                                 "--web.listen-address=127.0.0.1:\(port)"]
            FileManager.default.createFile(atPath: dir.file("prometheus.log"), contents: nil)
            let log = FileHandle(forWritingAtPath: dir.file("prometheus.log"))
            process.standardOutput = log
            process.standardError = log
            try process.run()
            let ready = try await waitFor("prometheus ready on port \(port)", seconds: 60) {
                guard process.isRunning else { return true }
                return (try? httpGet("http://127.0.0.1:\(port)/-/ready"))?.hasPrefix("HTTP/1.1 200") == true
            }
            if ready && process.isRunning { started = (process, port) } else { process.waitUntilExit() }
        }
        let (prometheus, port) = try #require(started, "prometheus did not start: \((try? String(contentsOfFile: dir.file("prometheus.log"), encoding: .utf8)) ?? "")")
        // SIGKILL: SIGTERM may be ignored by inheritance here (see LineReader.stop).
        defer { kill(prometheus.processIdentifier, SIGKILL); prometheus.waitUntilExit() }
        func prometheusLog() -> String { (try? String(contentsOfFile: dir.file("prometheus.log"), encoding: .utf8)) ?? "" }

        // A series of AU's, through Prometheus' query API: scraped, with the node label.
        let scraped = try await waitFor("Prometheus answers paxsync_peer_connected{peer=\"JP\"} = 1", seconds: 60) {
            guard let answer = api(port, "/api/v1/query?query=paxsync_peer_connected%7Bpeer%3D%22JP%22%7D"),
                  let results = (answer["data"] as? [String: Any])?["result"] as? [[String: Any]],
                  let sample = results.first else { return false }
            let labels = sample["metric"] as? [String: String] ?? [:]
            return labels["node"] == "AU" && labels["job"] == "paxsync" && (sample["value"] as? [Any])?.last as? String == "1"
        }
        try #require(scraped, "\(prometheusLog().suffix(2000))")
        // JP confirmed AU's head when their session began: AU's writes are not paused.
        #expect(try await waitFor("Prometheus answers paxsync_local_writes_paused = 0", seconds: 60) {
            let answer = api(port, "/api/v1/query?query=paxsync_local_writes_paused")
            let value = (((answer?["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first?["value"] as? [Any])?.last as? String
            return value == "0"
        })

        // JP stops: the shipped alert fires for peer JP on node AU.
        #expect(c.stop("JP") == 0)
        let fired = try await waitFor("PaxsyncPeerDisconnected firing for JP", seconds: 60) {
            guard let answer = api(port, "/api/v1/alerts"),
                  let alerts = (answer["data"] as? [String: Any])?["alerts"] as? [[String: Any]] else { return false }
            return alerts.contains { alert in
                let labels = alert["labels"] as? [String: String] ?? [:]
                return labels["alertname"] == "PaxsyncPeerDisconnected" && labels["peer"] == "JP" && labels["node"] == "AU"
                    && alert["state"] as? String == "firing"
            }
        }
        #expect(fired, "\(prometheusLog().suffix(2000))")
    }
}
