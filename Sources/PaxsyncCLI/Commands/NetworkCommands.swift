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
import X509

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

struct TLSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls", abstract: "A node's TLS certificate and the pin peers' rosters hold for it.",
        discussion: """
            The roster pins each member's TLS key (SHA-256 of the certificate's public key).
            A pinned member is accepted only with that key, whoever signed its certificate;
            a member without a pin only with a certificate from the coalition CA.
            """,
        subcommands: [Create.self, Pin.self, Rotate.self])

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rotate this node's TLS key: a new self-signed certificate, its pin declared in the node's log.",
            discussion: """
                Writes a new key and self-signed certificate where paxsync.conf names them, and an
                entry in this node's own log declaring the new pin (PROTOCOL §3.5; no quorum). Peers
                accept the new key once the entry reaches them, and the previous one for 7 days more,
                so restart the daemon (it reads its certificate at start) any time in that week —
                best once `paxsync status` shows every peer holding the entry. Needs a coalition
                founded by a genesis or a roster shared by governance; the node must be an active member.
                Example:
                  paxsync tls rotate --data-dir au --host 10.0.0.5 && systemctl restart paxsync
                """)
        @OptionGroup var node: NodeOptions
        @Option(help: "Extra DNS name or IPv4 address for the certificate (repeatable).") var host: [String] = []
        @Option(help: "Validity in days.") var days = 825
        @OptionGroup var json: JSONFlag

        func run() throws {
            let dir = try node.directory()
            let config = dir.configuration
            let certificate = dir.file(config.tlsCertificate), key = dir.file(config.tlsKey)
            let issued = try CoalitionPKI.selfSignedNode(id: config.nodeID, hosts: host, validDays: days)
            let pin = try PeerCertificateCheck.pin(ofPEM: issued.certificatePEM)
            let entry = try node.withLocalWrites { replica in try replica.declareTLSPin([UInt8](hex: pin)!) }
            for path in [certificate, key] {
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            try FileWriter.write(key, issued.privateKeyPEM, mode: 0o600)
            try FileWriter.write(certificate, issued.certificatePEM, mode: 0o644)
            var roster = try dir.loadRoster()
            if let index = roster.members.firstIndex(where: { $0.id == config.nodeID }) {
                roster.members[index].tlsPin = pin
                try dir.installRoster(roster, source: "tls rotate")
            }
            if json.enabled { Output.json(["node": config.nodeID, "certificate": certificate, "tlsPin": pin, "entry": entry.id.description]); return }
            print("Wrote a new key and self-signed certificate for \(CoalitionPKI.dnsName(forNode: config.nodeID)) in \(certificate)")
            print("Declared its pin \(pin) in \(entry.id); peers accept the previous key for 7 days more")
            print("Restart the daemon to use it (systemctl restart paxsync)")
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a self-signed TLS certificate for this node and pin its key in this node's roster.",
            discussion: """
                Writes the certificate and key where paxsync.conf names them (tls_certificate,
                tls_key), sets this node's tlsPin in its roster.json and prints the pin. Give the
                pin (or this roster: `paxsync roster add --from`) to every other member; until
                their rosters hold it, they accept this node only with a certificate from the
                coalition CA. --force replaces an existing certificate (a new key: peers must
                learn the new pin, with `paxsync roster pin`).
                Example:
                  paxsync tls create --data-dir au --host 10.0.0.5
                """)
        @OptionGroup var node: NodeOptions
        @Option(help: "Extra DNS name or IPv4 address for the certificate (repeatable).") var host: [String] = []
        @Option(help: "Validity in days.") var days = 825
        @Flag(help: "Replace an existing certificate and key.") var force = false
        @OptionGroup var json: JSONFlag

        func run() throws {
            let dir = try node.directory()
            let config = dir.configuration
            let certificate = dir.file(config.tlsCertificate), key = dir.file(config.tlsKey)
            if FileManager.default.fileExists(atPath: certificate) && !force {
                throw PaxsyncError(.usage, "a certificate already exists; --force replaces it (and its key: peers must learn the new pin)",
                                   subject: certificate)
            }
            let issued = try CoalitionPKI.selfSignedNode(id: config.nodeID, hosts: host, validDays: days)
            let pin = try PeerCertificateCheck.pin(ofPEM: issued.certificatePEM)
            var roster = try dir.loadRoster()
            guard let index = roster.members.firstIndex(where: { $0.id == config.nodeID }) else {
                throw PaxsyncError(.badInput, "the roster does not list this node", subject: dir.rosterPath)
            }
            roster.members[index].tlsPin = pin
            for path in [certificate, key] {
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            try FileWriter.write(key, issued.privateKeyPEM, mode: 0o600)
            try FileWriter.write(certificate, issued.certificatePEM, mode: 0o644)
            try dir.installRoster(roster, source: "tls create")
            if json.enabled { Output.json(["node": config.nodeID, "certificate": certificate, "tlsPin": pin]); return }
            print("Created a self-signed certificate for \(CoalitionPKI.dnsName(forNode: config.nodeID)) in \(certificate)")
            print("Pinned it in \(dir.rosterPath): \(config.nodeID) tlsPin \(pin)")
            print("Other members: paxsync roster pin \(config.nodeID) \(pin)")
        }
    }

    struct Pin: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the pin of this node's TLS certificate (or of --certificate FILE).",
            discussion: """
                The pin is SHA-256 of the certificate's DER SubjectPublicKeyInfo, as
                `openssl x509 -in node.crt -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`
                prints it. Also says whether this node's roster pins that key.
                Examples:
                  paxsync tls pin --data-dir au
                  paxsync tls pin --certificate jp/tls/node.crt --json
                """)
        @OptionGroup var node: NodeOptions
        @Option(help: ArgumentHelp("A PEM certificate file instead of this node's.", valueName: "FILE")) var certificate: String?
        @OptionGroup var json: JSONFlag

        func run() throws {
            let dir = certificate == nil ? try node.directory() : nil
            let path = certificate ?? dir!.file(dir!.configuration.tlsCertificate)
            let data = try InputFile.read(path, "certificate")
            let parsed: Certificate
            do { parsed = try Certificate(pemEncoded: String(decoding: data, as: UTF8.self)) } catch {
                throw PaxsyncError(.badInput, "not a PEM certificate", subject: path, underlying: error)
            }
            let pin = try PeerCertificateCheck.pin(of: parsed)
            let member = CoalitionPKI.nodeID(of: parsed)
            let pinned = try dir.map { try $0.loadRoster().member($0.configuration.nodeID)?.tlsPin }
            if json.enabled {
                Output.json(PinReport(certificate: path, member: member, tlsPin: pin, rosterPin: pinned ?? nil))
                return
            }
            print(pin)
            if let dir {
                switch pinned ?? nil {
                case pin?: break
                case let other?:
                    Output.error("warning: this node's roster pins another key for \(dir.configuration.nodeID) (\(other)); "
                                 + "peers with that pin refuse this certificate")
                case nil:
                    Output.error("note: this node's roster pins no TLS key for \(dir.configuration.nodeID): "
                                 + "peers accept it only with a certificate from the coalition CA")
                }
            }
        }
    }

    struct PinReport: Encodable {
        let certificate: String
        let member: String?
        let tlsPin: String
        let rosterPin: String?
    }
}
