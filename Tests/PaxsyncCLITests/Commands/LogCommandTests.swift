import Foundation
import PaxsyncModel
import PaxsyncStore
import PaxsyncTestSupport
import Testing

@Suite("paxsync log list")
struct LogCommandTests {
    /// AU's log, in the order AU applied it:
    ///
    /// | entry | time (UTC)       | changes                  |
    /// | AU:1  | 2026-11-01       | facilities AU-A created  |
    /// | JP:1  | 2026-11-05       | facilities JP-K created  |
    /// | AU:2  | 2026-11-10       | stocks AU-A/Nd/oxide     |
    /// | AU:3  | 2026-11-15       | facilities AU-A renamed  |
    /// | JP:2  | 2026-11-20       | facilities JP-L created  |
    static func history() throws -> CoalitionNode {
        let node = try CoalitionNode("AU", at: instant("2026-11-01"))
        let au = try node.replica()
        let (jp, jpClock) = try node.member("JP", at: instant("2026-11-05"))
        try au.commit([Records.facility("AU-A")])
        try jp.commit([Records.facility("JP-K", country: "JP", lat: 34.7, lon: 135.2)])
        node.clock.set(instant("2026-11-05"))
        try au.apply(try jp.allEntries())
        node.clock.set(instant("2026-11-10"))
        try au.commit([Records.stock("AU-A", "Nd", kg: 1200)])
        node.clock.set(instant("2026-11-15"))
        try au.commit([Records.update(Schema.facilities, ["AU-A"], ["name": .text("Renamed")])])
        jpClock.set(instant("2026-11-20"))
        try jp.commit([Records.facility("JP-L", country: "JP", lat: 35, lon: 139)])
        node.clock.set(instant("2026-11-20"))
        try au.apply([try jp.allEntries()[1]])
        return node
    }

    func list(_ node: CoalitionNode, _ options: [String]) async throws -> [LogEntrySummary] {
        let out = try await node.paxsync.ok(["log", "list", "--json"] + options)
        return try JSONDecoder().decode([LogEntrySummary].self, from: Data(out.utf8))
    }

    @Test("without filters: every entry in log order, with its time and change count")
    func everything() async throws {
        let node = try Self.history()
        let entries = try await list(node, [])
        #expect(entries.map(\.entry) == ["AU:1", "JP:1", "AU:2", "AU:3", "JP:2"])
        #expect(entries.map(\.position) == [1, 2, 3, 4, 5])
        #expect(entries.map(\.time) == ["2026-11-01T00:00:00.000Z", "2026-11-05T00:00:00.000Z", "2026-11-10T00:00:00.000Z",
                                        "2026-11-15T00:00:00.000Z", "2026-11-20T00:00:00.000Z"])
        #expect(entries.map(\.changes) == [1, 1, 1, 1, 1])
    }

    @Test("each filter lists exactly the entries it selects, in log order", arguments: [
        (["--origin", "JP"], ["JP:1", "JP:2"]),
        (["--origin", "KR"], []),
        (["--since", "2026-11-05"], ["JP:1", "AU:2", "AU:3", "JP:2"]),
        (["--since", "2026-11-05T00:00:01Z"], ["AU:2", "AU:3", "JP:2"]),
        (["--until", "2026-11-10T00:00:00Z"], ["AU:1", "JP:1", "AU:2"]),
        (["--until", "2026-11-09T23:59:59Z"], ["AU:1", "JP:1"]),
        (["--since", "2026-11-05", "--until", "2026-11-15"], ["JP:1", "AU:2", "AU:3"]),
        (["--origin", "AU", "--since", "2026-11-02"], ["AU:2", "AU:3"]),
        (["--table", "stocks"], ["AU:2"]),
        (["--table", "facilities"], ["AU:1", "JP:1", "AU:3", "JP:2"]),
        (["--table", "facilities", "--key", "AU-A"], ["AU:1", "AU:3"]),
        (["--table", "facilities", "--key", "JP-L"], ["JP:2"]),
        (["--table", "shipments"], []),
        (["--limit", "2"], ["AU:1", "JP:1"]),
        (["--origin", "AU", "--limit", "2"], ["AU:1", "AU:2"]),
        (["--table", "facilities", "--origin", "JP", "--limit", "1"], ["JP:1"]),
    ] as [([String], [String])])
    func filters(options: [String], expected: [String]) async throws {
        let node = try Self.history()
        let entries = try await list(node, options)
        #expect(entries.map(\.entry) == expected, "log list \(options.joined(separator: " "))")
    }

    @Test("the table lists the same entries, with position, time and change count")
    func table() async throws {
        let node = try Self.history()
        let out = try await node.paxsync.ok(["log", "list", "--origin", "JP"])
        let lines = out.split(separator: "\n")
        #expect(lines.first?.split(separator: " ").prefix(3) == ["#", "entry", "time"], "\(out)")
        #expect(lines.dropFirst().map { Array($0.split(separator: " ").prefix(4)) } == [
            ["2", "JP:1", "2026-11-05T00:00:00.000Z", "1"],
            ["5", "JP:2", "2026-11-20T00:00:00.000Z", "1"],
        ], "header and two entries, with log position, time and change count: \(out)")
    }

    @Test("bad filters are usage errors naming the option", arguments: [
        (["--key", "AU-A"], "--key needs --table"),
        (["--table", "mines"], "unknown table mines"),
        (["--since", "yesterday"], "--since: expected a date YYYY-MM-DD or a UTC time YYYY-MM-DDTHH:MM:SSZ"),
    ] as [([String], String)])
    func badFilters(options: [String], message: String) async throws {
        let node = try Self.history()
        let r = try await node.paxsync.run(["log", "list"] + options)
        #expect(r.status == 64, "\(r.output)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }
}
