import Foundation

/// The package's root directory (where `Package.swift`, `Deploy/` and `Protocol/` are),
/// found from this file's own path, so tests read the repository's files wherever they live.
public let packageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()   // PaxsyncTestSupport
    .deletingLastPathComponent()   // Sources
    .deletingLastPathComponent()
