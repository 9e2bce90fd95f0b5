import Foundation
import Testing

/// Runs the built `paxsync` binary, as a user would.
struct Paxsync {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var output: String { stdout + stderr }
    }

    static let binary: String = {
        var candidates: [String] = []
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0])
        var dir = argv0.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("paxsync").path)
            dir = dir.deletingLastPathComponent()
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/paxsync").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }()

    let environment: [String: String]

    init(dataDir: String? = nil) {
        var env = ProcessInfo.processInfo.environment
        env["PAXSYNC_DATA_DIR"] = dataDir
        environment = env
    }

    /// Runs the binary to its end, or until `timeoutSeconds` pass (then it is
    /// killed and the result says so). Both pipes are drained at once, so a
    /// child writing much to either cannot block.
    @discardableResult
    func run(_ arguments: [String], timeoutSeconds: Double = 300) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let drained = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        DispatchQueue.global().async(group: drained) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let killer = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds, execute: killer)
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        process.waitUntilExit()
        killer.cancel()
        let killed = process.terminationReason == .uncaughtSignal
        return Result(status: killed ? 128 + process.terminationStatus : process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self) + (killed ? "\n[killed by signal \(process.terminationStatus)]" : ""))
    }

    /// Runs and requires success, returning stdout.
    @discardableResult
    func ok(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try run(arguments)
        #expect(r.status == 0, "paxsync \(arguments.joined(separator: " ")) failed: \(r.output)", sourceLocation: sourceLocation)
        return r.stdout
    }
}
