import ArgumentParser
import Foundation
import Logging
import PaxsyncDaemon
import PaxsyncLog
import PaxsyncModel
import PaxsyncNet
import PaxsyncStore
import PaxsyncSync
import ServiceLifecycle

struct CACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca", abstract: "The coalition's certificate authority for mutual TLS between nodes.",
        subcommands: [Init.self, Issue.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a coalition CA (P-256): ca.crt to share, ca.key (mode 0600) to guard.",
            discussion: "Example:\n  paxsync ca init --dir coalition-ca --name \"Critical Minerals Coalition CA\"")
        @Option(help: ArgumentHelp("Directory to create.", valueName: "DIR")) var dir: String
        @Option(help: "The CA's common name.") var name = "paxsync coalition CA"
        @Option(help: "Validity in days.") var days = 3650

        func run() throws {
            _ = try CADirectory.create(at: dir, name: name, validDays: days)
            print("Created the coalition CA in \(dir): ca.crt (give to every node), ca.key (keep offline)")
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a node's TLS certificate, naming its id (<id>.node.paxsync).",
            discussion: """
                Writes node.crt, node.key (mode 0600) and a copy of ca.crt into --out; a
                node's default configuration reads them from DATA-DIR/tls.
                Example:
                  paxsync ca issue --ca coalition-ca --node-id AU --out au/tls --host 10.0.0.5
                """)
        @Option(help: ArgumentHelp("The CA directory.", valueName: "DIR")) var ca: String
        @Option(name: .customLong("node-id"), help: "The node's member id.") var nodeID: String
        @Option(help: ArgumentHelp("Directory to write into.", valueName: "DIR")) var out: String
        @Option(help: "Extra DNS name or IPv4 address for the certificate (repeatable).") var host: [String] = []
        @Option(help: "Validity in days.") var days = 825

        func run() throws {
            try CADirectory(ca).issueNode(id: nodeID, hosts: host, validDays: days, into: out)
            print("Issued \(CoalitionPKI.dnsName(forNode: nodeID)) for \(nodeID) into \(out): node.crt, node.key, ca.crt")
        }
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the node: sync with peers over mutual TLS until SIGTERM or SIGINT.",
        discussion: """
            Listens on the configured address, dials the configured peers whose id
            sorts after this node's (reconnecting with backoff), pushes local writes
            to connected peers as they land, relays every origin's entries, and retries
            held entries. SIGTERM or SIGINT finishes the batch being applied, then exits.
            While it runs, `paxsync status` reads it through the owner-only admin socket
            (admin_socket), and Prometheus metrics are served at metrics_listen if set.
            Example:
              paxsync serve --data-dir au
            """)
    @OptionGroup var node: NodeOptions
    @Option(help: "Override the configured listen address (host:port).") var listen: String?

    func run() async throws {
        let dir = try node.directory()
        let config = dir.configuration
        let level = Logger.Level(rawValue: config.logLevel) ?? .info
        let journal = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil
        LoggingSystem.bootstrap { label in
            if journal { return JournalLogHandler(label: label, level: level) }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "paxsync")
        logger[metadataKey: "node"] = "\(config.nodeID)"
        try await NodeDaemon(directory: dir, version: PaxsyncCommand.version, listenOverride: listen, logger: logger).run()
    }
}
