import Foundation
import PaxsyncLog
import PaxsyncModel

/// Files a command reads that the user names (rosters, genesis, keys,
/// certificates): a missing or unreadable one is `notFound`, naming the file.
enum InputFile {
    static func read(_ path: String, _ what: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PaxsyncError(.notFound, "cannot read the \(what)", subject: path)
        }
        return data
    }

    static func roster(_ path: String) throws -> Roster { try Roster.decode(read(path, "roster"), source: path) }

    static func genesis(_ path: String) throws -> Genesis { try Genesis.decode(read(path, "genesis file"), source: path) }
}
