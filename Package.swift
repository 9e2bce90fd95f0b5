// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "paxsync",
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
        // The command-line interface, as a library so tests can drive it.
        .target(
            name: "PaxsyncCLI",
            dependencies: [
                "PaxsyncModel", "PaxsyncLog", "PaxsyncStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "paxsync", dependencies: ["PaxsyncCLI"]),
        // Fixtures shared by the test suites: members with keys, rosters, nodes in
        // temporary directories, change-set builders.
        .target(
            name: "PaxsyncTestSupport",
            dependencies: ["PaxsyncModel", "PaxsyncLog", "PaxsyncStore"]
        ),
        .executableTarget(
            name: "paxsync-bench",
            dependencies: [
                "PaxsyncModel", "PaxsyncLog", "PaxsyncStore", "PaxsyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/paxsync-bench"
        ),
        .testTarget(name: "PaxsyncModelTests", dependencies: ["PaxsyncModel", "PaxsyncTestSupport"]),
        .testTarget(name: "PaxsyncLogTests", dependencies: ["PaxsyncLog", "PaxsyncTestSupport"]),
        .testTarget(
            name: "PaxsyncStoreTests",
            dependencies: ["PaxsyncStore", "PaxsyncTestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(name: "PaxsyncCLITests", dependencies: ["PaxsyncCLI", "PaxsyncModel", "PaxsyncTestSupport"]),
    ]
)
