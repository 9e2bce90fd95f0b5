// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "paxsync",
    // Supported and tested on Linux only (README, "Quick start"); this is the
    // minimum an Apple platform would need, not a claim that macOS is supported.
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "paxsync", targets: ["paxsync"]),
        .library(name: "PaxsyncModel", targets: ["PaxsyncModel"]),
        .library(name: "PaxsyncLog", targets: ["PaxsyncLog"]),
        .library(name: "PaxsyncStore", targets: ["PaxsyncStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/pointfreeco/swift-clocks", from: "1.1.1"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
    ],
    targets: [
        // Pure domain: records, validation, hybrid logical clock, merge and
        // authorization rules, canonical digest encoding. No I/O, no clock reads.
        .target(
            name: "PaxsyncModel",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // Pure log format: generated protobuf messages, conversion to the model,
        // Ed25519 signing and verification, hash chaining, rosters, bundle framing.
        .target(
            name: "PaxsyncLog",
            dependencies: [
                "PaxsyncModel",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The replica: SQLite through GRDB, the one apply path, node directories,
        // import/export, replay and the state digest.
        .target(
            name: "PaxsyncStore",
            dependencies: [
                "PaxsyncModel", "PaxsyncLog",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Peer sync without I/O: the session state machine that decides what to
        // send and what to do with what arrives.
        .target(
            name: "PaxsyncSync",
            dependencies: ["PaxsyncModel"]
        ),
        // The network: coalition PKI (X.509), the mutual-TLS gRPC transport, the
        // generated sync service, and the session runner, server and dialer that
        // drive PaxsyncSync's state machine over it.
        // The sync protocol's wire messages (Protocol/paxsync_sync.proto) and their
        // conversion to the session's messages: decoding only, no network.
        .target(
            name: "PaxsyncWire",
            dependencies: [
                "PaxsyncModel", "PaxsyncLog", "PaxsyncSync",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .target(
            name: "PaxsyncNet",
            dependencies: [
                "PaxsyncModel", "PaxsyncLog", "PaxsyncStore", "PaxsyncSync", "PaxsyncWire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Clocks", package: "swift-clocks"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ]
        ),
        // What an operator hands a node, parsed without I/O so each can be fuzzed
        // without linking the daemon: the configuration file (paxsync.conf, TOML)
        // and the admin socket's request lines.
        .target(
            name: "PaxsyncControl",
            dependencies: ["PaxsyncModel", .product(name: "TOMLKit", package: "TOMLKit")]
        ),
        // A running node: its data directory and configuration, the daemon that
        // wires replica, sync server, dialers and held-entry retrier into one
        // service group, the admin socket and its client, status, and metrics.
        .target(
            name: "PaxsyncDaemon",
            dependencies: [
                "PaxsyncModel", "PaxsyncLog", "PaxsyncStore", "PaxsyncSync", "PaxsyncNet", "PaxsyncControl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // A coalition of real `paxsync serve` processes on loopback, for the demo,
        // the network benchmarks and the tests: CA, keys, roster, data directories.
        .target(
            name: "PaxsyncCluster",
            dependencies: ["PaxsyncModel", "PaxsyncLog", "PaxsyncStore", "PaxsyncNet", "PaxsyncControl", "PaxsyncDaemon"]
        ),
        // The command-line interface, as a library so tests can drive it.
        .target(
            name: "PaxsyncCLI",
            dependencies: [
                "PaxsyncModel", "PaxsyncLog", "PaxsyncStore", "PaxsyncNet", "PaxsyncDaemon", "PaxsyncCluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(name: "paxsync", dependencies: ["PaxsyncCLI"]),
        // Fixtures shared by the test suites: members with keys, rosters, nodes in
        // temporary directories, change-set builders.
        .target(
            name: "PaxsyncTestSupport",
            dependencies: ["PaxsyncModel", "PaxsyncLog", "PaxsyncStore", .product(name: "Clocks", package: "swift-clocks")]
        ),
        .executableTarget(
            name: "paxsync-bench",
            dependencies: [
                "PaxsyncModel", "PaxsyncLog", "PaxsyncStore", "PaxsyncSync", "PaxsyncNet", "PaxsyncWire", "PaxsyncDaemon", "PaxsyncCluster",
                "PaxsyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/paxsync-bench"
        ),
        .testTarget(name: "PaxsyncModelTests", dependencies: ["PaxsyncModel", "PaxsyncTestSupport"]),
        .testTarget(name: "PaxsyncLogTests", dependencies: ["PaxsyncLog", "PaxsyncStore", "PaxsyncTestSupport"]),
        .testTarget(
            name: "PaxsyncStoreTests",
            dependencies: ["PaxsyncStore", "PaxsyncTestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "PaxsyncControlTests", dependencies: ["PaxsyncControl", "PaxsyncModel", "PaxsyncTestSupport"]),
        .testTarget(name: "PaxsyncSyncTests", dependencies: ["PaxsyncSync", "PaxsyncTestSupport"]),
        .testTarget(
            name: "PaxsyncWireTests",
            dependencies: [
                "PaxsyncWire", "PaxsyncSync", "PaxsyncLog", "PaxsyncModel", "PaxsyncTestSupport",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        .testTarget(
            name: "PaxsyncNetTests",
            dependencies: [
                "PaxsyncNet", "PaxsyncSync", "PaxsyncWire", "PaxsyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Clocks", package: "swift-clocks"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        .testTarget(
            name: "PaxsyncDaemonTests",
            dependencies: [
                "PaxsyncDaemon", "PaxsyncNet", "PaxsyncStore", "PaxsyncTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Clocks", package: "swift-clocks"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PaxsyncCLITests",
            dependencies: [
                "PaxsyncCLI", "PaxsyncDaemon", "PaxsyncCluster", "PaxsyncNet", "PaxsyncModel", "PaxsyncLog", "PaxsyncStore",
                "PaxsyncTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
    ]
)

// ---- Fuzz targets (libFuzzer) -------------------------------------------------
// Only when PAXSYNC_FUZZ=1, so ordinary builds and tests never see them.
// scripts/fuzz.sh builds them with -sanitize=fuzzer,address into .build-fuzz.
// Each links decoding targets only (never PaxsyncNet/PaxsyncDaemon/PaxsyncCLI).
if Context.environment["PAXSYNC_FUZZ"] == "1" {
    package.targets += [
        .target(name: "FuzzDriver", path: "Fuzz/FuzzDriver"),
        .executableTarget(name: "fuzz-entry", dependencies: ["FuzzDriver", "PaxsyncLog", "PaxsyncModel"], path: "Fuzz/fuzz-entry"),
        .executableTarget(name: "fuzz-bundle", dependencies: ["FuzzDriver", "PaxsyncLog", "PaxsyncModel", "PaxsyncStore"], path: "Fuzz/fuzz-bundle"),
        .executableTarget(name: "fuzz-roster", dependencies: ["FuzzDriver", "PaxsyncLog", "PaxsyncModel"], path: "Fuzz/fuzz-roster"),
        .executableTarget(name: "fuzz-csv", dependencies: ["FuzzDriver", "PaxsyncModel", "PaxsyncStore"], path: "Fuzz/fuzz-csv"),
        .executableTarget(name: "fuzz-config", dependencies: ["FuzzDriver", "PaxsyncControl", "PaxsyncModel"], path: "Fuzz/fuzz-config"),
        .executableTarget(name: "fuzz-admin", dependencies: ["FuzzDriver", "PaxsyncControl"], path: "Fuzz/fuzz-admin"),
        .executableTarget(name: "fuzz-sync", dependencies: ["FuzzDriver", "PaxsyncWire", "PaxsyncSync", "PaxsyncModel"],
                          path: "Fuzz/fuzz-sync"),
        .executableTarget(
            name: "fuzz-certificate",
            dependencies: [
                "FuzzDriver", "PaxsyncModel",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Fuzz/fuzz-certificate"
        ),
    ]
    package.products += ["fuzz-entry", "fuzz-bundle", "fuzz-roster", "fuzz-csv", "fuzz-certificate", "fuzz-sync", "fuzz-config", "fuzz-admin"].map {
        .executable(name: $0, targets: [$0])
    }
}
// ---- end of fuzz targets ------------------------------------------------------
