// libFuzzer target: roster JSON (roster.json, `paxsync roster` input) and its
// validation, plus the node signing-key file. Any input may throw; none may trap.
import Foundation
import PaxsyncLog
import PaxsyncModel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Data(bytes: data, count: size)

    // Decoding alone, then validate() on whatever decoded (decode() does both).
    if let roster = try? JSONDecoder().decode(Roster.self, from: input) {
        let valid = (try? roster.validate(source: "fuzz")) != nil
        for member in roster.members { _ = member.publicKeyBytes }
        _ = roster.memberIDs
        if valid {
            // A valid roster survives its own encoding.
            guard let again = try? Roster.decode(roster.encoded(), source: "fuzz re-encoded"), again == roster else {
                fatalError("a valid roster does not round-trip through encoded()")
            }
        }
    }
    _ = try? Roster.decode(input, source: "fuzz")

    // The signing-key file sits next to the roster and is read the same way.
    _ = try? NodeSigningKey(fileContents: String(decoding: input, as: UTF8.self), source: "fuzz")
    return 0
}
