import Foundation
import PaxsyncTestSupport
import Subprocess
import Synchronization
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
        let root = packageRoot
        candidates.append(root.appendingPathComponent(".build/debug/paxsync").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }()

    let environment: [String: String]

    init(dataDir: String? = nil) {
        var env = ProcessInfo.processInfo.environment
        env["PAXSYNC_DATA_DIR"] = dataDir
        environment = env
    }

    /// What one of the tasks watching a run reports.
    private enum Watch: Sendable {
        case stdout([UInt8])
        case stderr([UInt8])
        case timedOut
        case timerCancelled
    }

    /// Runs the binary to its end, or until `timeoutSeconds` pass: then it is
    /// killed with SIGKILL, the status is 128 + 9 and stderr ends saying so.
    /// Standard input is empty; both output streams are read concurrently, so a
    /// child writing much to either cannot block.
    @discardableResult
    func run(_ arguments: [String], timeoutSeconds: Double = 300) async throws -> Result {
        // A guard outside the run itself: should the run not return a minute after
        // its own timeout (its process monitoring lost), the test fails naming the
        // command instead of hanging the suite; the stuck task is left behind.
        let once = Once()
        let limit = timeoutSeconds + 60
        let command = "paxsync " + arguments.joined(separator: " ")
        let runner = self
        return try await withCheckedThrowingContinuation { continuation in
            once.start(continuation, guard: Task {
                do { try await Task.sleep(for: .seconds(limit)) } catch { return }
                once.finish(.failure(RunnerStuck(command: command, seconds: limit)))
            })
            Task {
                do { once.finish(.success(try await runner.runWatched(arguments, timeoutSeconds: timeoutSeconds))) } catch {
                    once.finish(.failure(error))
                }
            }
        }
    }

    /// Resumes a run's caller once: with its result, or when the guard expires.
    private final class Once: Sendable {
        private let state = Mutex<(CheckedContinuation<Result, any Error>?, Task<Void, Never>?)>((nil, nil))
        func start(_ continuation: CheckedContinuation<Result, any Error>, guard timer: Task<Void, Never>) {
            state.withLock { $0 = (continuation, timer) }
        }
        func finish(_ result: Swift.Result<Result, any Error>) {
            let (continuation, timer) = state.withLock { s in defer { s = (nil, nil) }; return s }
            timer?.cancel()
            continuation?.resume(with: result)
        }
    }

    struct RunnerStuck: Error, CustomStringConvertible {
        let command: String
        let seconds: Double
        var description: String { "\(command) had not returned after \(Int(seconds)) s: its run is stuck (output or exit never seen)" }
    }

    private func runWatched(_ arguments: [String], timeoutSeconds: Double) async throws -> Result {
        var variables: [Environment.Key: String] = [:]
        for (name, value) in environment { variables[Environment.Key(stringLiteral: name)] = value }
        let execution = try await Subprocess.run(
            .path(.init(Self.binary)), arguments: Arguments(arguments), environment: .custom(variables),
            input: .none, output: .sequence, error: .sequence
        ) { execution in
            try await withThrowingTaskGroup(of: Watch.self) { group in
                group.addTask { .stdout(try await Self.collect(execution.standardOutput)) }
                group.addTask { .stderr(try await Self.collect(execution.standardError)) }
                group.addTask {
                    do {
                        try await Task.sleep(for: .seconds(timeoutSeconds))
                    } catch {
                        return .timerCancelled
                    }
                    try? execution.send(signal: .kill)
                    return .timedOut
                }
                var stdout: [UInt8] = [], stderr: [UInt8] = [], streamsEnded = 0, timedOut = false
                while let watched = try await group.next() {
                    switch watched {
                    case .stdout(let bytes): stdout = bytes; streamsEnded += 1
                    case .stderr(let bytes): stderr = bytes; streamsEnded += 1
                    case .timedOut: timedOut = true
                    case .timerCancelled: break
                    }
                    // Both streams end when the child exits: stop the timer.
                    if streamsEnded == 2 { group.cancelAll() }
                }
                return (stdout: stdout, stderr: stderr, timedOut: timedOut)
            }
        }
        let (stdout, stderr, timedOut) = execution.closureResult
        var status: Int32
        var note = ""
        switch execution.terminationStatus {
        case .exited(let code):
            status = code
        case .signaled(let signal):
            status = 128 + signal
            note = "\n[killed by signal \(signal)]"
        }
        if timedOut { note += "\n[timed out after \(timeoutSeconds) s]" }
        return Result(status: status, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self) + note)
    }

    /// Every byte of one output stream, to its end.
    private static func collect(_ stream: SubprocessOutputSequence) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await buffer in stream {
            buffer.withUnsafeBytes { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    /// Runs and requires success, returning stdout.
    @discardableResult
    func ok(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let r = try await run(arguments)
        #expect(r.status == 0, "paxsync \(arguments.joined(separator: " ")) failed: \(r.output)", sourceLocation: sourceLocation)
        return r.stdout
    }
}
