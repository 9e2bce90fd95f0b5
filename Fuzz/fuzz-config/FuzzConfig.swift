// libFuzzer target: the node configuration file (paxsync.conf, TOML, through
// TOMLKit's parser) and the PAXSYNC_<KEY> environment overrides. Any input may
// throw; none may trap.
import Foundation
import PaxsyncControl
import PaxsyncModel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    // Up to the first NUL: the file. After it: `KEY=VALUE` lines, the environment.
    let split = input.firstIndex(of: 0) ?? input.endIndex
    let text = String(decoding: input[..<split], as: UTF8.self)
    var environment: [String: String] = [:]
    if split < input.endIndex {
        for line in String(decoding: input[(split + 1)...], as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            environment[NodeConfiguration.environmentVariable(for: String(parts[0]))] = String(parts[1])
        }
    }

    guard let parsed = try? NodeConfiguration.parse(text, source: "fuzz.conf") else { return 0 }
    // What the node writes (`node init`), it reads back as the same settings,
    // whatever the values hold (quotes, backslashes, newlines, control characters).
    check(parsed, "the file")
    guard let overridden = try? parsed.applying(environment: environment) else { return 0 }
    check(overridden, "the file with the environment's overrides")
    _ = overridden.peerIDs(roster: ["AU", "JP", "KR", "SG", "IL", overridden.nodeID])
    return 0
}

func check(_ config: NodeConfiguration, _ what: String) {
    let written = config.fileContents
    do {
        let again = try NodeConfiguration.parse(written, source: "fuzz rewritten.conf")
        guard again == config else { fatalError("\(what) written by fileContents reads back as other settings:\n\(written)") }
    } catch {
        fatalError("\(what) written by fileContents does not parse: \(error)\n\(written)")
    }
}
