import ArgumentParser
import Foundation
import PaxsyncModel

/// The exit status of every `paxsync` command, the same whether an error comes
/// from argument parsing or later (`paxsync help exit-codes` prints this table;
/// values follow BSD `sysexits.h` where one fits).
///
/// | status | meaning |
/// | --- | --- |
/// | 0 | success |
/// | 1 | a check failed (`log verify` found a bad entry, a replay does not match the live digest, the demo did not converge), or an error of no other kind |
/// | 64 | usage: a wrong command, flag or argument |
/// | 65 | data error: bad input file, invalid record, field or key, a malformed, forged, unchained or unauthorized entry, a change the record's state refuses |
/// | 66 | not found: no node at the data directory, no such record, entry or file |
/// | 69 | unavailable: the daemon is not running where one is required, a listen address is in use, another daemon runs on the data directory |
/// | 74 | storage: a file or the replica could not be read or written |
/// | 77 | permission: this account may not read or write the data directory or the admin socket |
public enum ExitStatus: Int32, CaseIterable, Sendable {
    case success = 0
    case failure = 1
    case usage = 64
    case dataError = 65
    case notFound = 66
    case unavailable = 69
    case storage = 74
    case permission = 77

    /// The status for an error code.
    public init(_ code: PaxsyncError.Code) {
        switch code {
        case .usage: self = .usage
        case .notFound: self = .notFound
        case .unavailable: self = .unavailable
        case .storage: self = .storage
        case .permission: self = .permission
        case .invalidField, .invalidKey, .malformedEntry, .badSignature, .unknownOrigin, .chainMismatch, .unauthorized,
             .invalidState, .badInput:
            self = .dataError
        default: self = .failure
        }
    }

    /// One line per status, for `--help` and the README.
    public var summary: String {
        switch self {
        case .success: "success"
        case .failure: "a check failed (log verify, replay against the live digest, demo convergence), or an error of no other kind"
        case .usage: "usage: a wrong command, flag or argument"
        case .dataError: "data error: bad input, an invalid record or entry, a change the record's state refuses"
        case .notFound: "not found: no node, record, entry or file"
        case .unavailable: "unavailable: no daemon where one is required, listen address in use, a daemon already runs"
        case .storage: "storage: a file or the replica could not be read or written"
        case .permission: "permission: this account may not use the data directory or admin socket"
        }
    }

    /// Runs a parsed command to its end and exits with the table's status.
    static func run(_ arguments: [String]?) async -> Never {
        let status: Int32
        do {
            var command = try PaxsyncCommand.parseAsRoot(arguments)
            if var async = command as? AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            status = 0
        } catch let error as PaxsyncError {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            status = ExitStatus(error.code).rawValue
        } catch {
            // Argument parsing, --help, ExitCode: ArgumentParser prints and
            // chooses (64 for usage errors, the given code for ExitCode).
            PaxsyncCommand.exit(withError: error)
        }
        exit(status)
    }
}
