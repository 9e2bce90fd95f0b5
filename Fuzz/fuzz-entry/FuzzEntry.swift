// libFuzzer target: the change-log entry decoders a node runs on bytes from
// peers, bundles and its own store. Any input may throw; none may trap.
// Built only by scripts/fuzz.sh (PAXSYNC_FUZZ=1, -sanitize=fuzzer,address).
// The file is not main.swift so it compiles as a library and libFuzzer's main is used.
import PaxsyncLog
import PaxsyncModel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    // What a session reads first to name an entry.
    let header = ChangeSet.headerID(body: bytes)

    // Where the replica's record histories find each row change in a logged body.
    let ranges = ChangeSet.changeRanges(body: bytes)

    // The input as a body.
    if let changeSet = try? ChangeSet(body: bytes) {
        checkRoundTrip(changeSet, body: bytes)
        // A body that decodes locates each of its changes, and each range decodes to that change.
        guard let ranges, ranges.count == changeSet.changes.count else {
            fatalError("changeRanges found \(String(describing: ranges?.count)) changes in a body of \(changeSet.changes.count)")
        }
        for (range, change) in zip(ranges, changeSet.changes) {
            guard let located = try? RowChange(serialized: Array(bytes[range])), sameChange(located, change) else {
                fatalError("the bytes changeRanges located at \(range) are not the body's change \(change)")
            }
        }
        // The state-free checks a receiver runs next on a decoded entry.
        _ = EntryRules.unsupportedVersion(changeSet)
        _ = try? EntryRules.checkStructure(changeSet, members: members)
        // A body that decodes in full must announce the same id in its header.
        if changeSet.seq > 0, header != changeSet.id {
            fatalError("headerID \(String(describing: header)) disagrees with the decoded id \(changeSet.id)")
        }
    }

    // The input as an envelope (body + signature).
    if let entry = try? SignedEntry(envelope: bytes) {
        guard let fields = try? SignedEntry.envelopeFields(bytes), fields.body == entry.body, fields.signature == entry.signature else {
            fatalError("envelopeFields disagrees with SignedEntry(envelope:)")
        }
        guard let again = try? SignedEntry(envelope: entry.envelopeBytes()), again == entry else {
            fatalError("a decoded envelope does not re-encode to the same entry")
        }
        _ = entry.verify(publicKey: fixedKey)
    } else {
        _ = try? SignedEntry.envelopeFields(bytes)
    }

    // The input split into a signature (length from the first byte) and a body.
    if size > 0 {
        let signatureLength = min(Int(bytes[0]), size - 1)
        let signature = Array(bytes[1..<1 + signatureLength])
        let body = Array(bytes[(1 + signatureLength)...])
        if let entry = try? SignedEntry(body: body, signature: signature) {
            _ = entry.hash
            _ = entry.verify(publicKey: fixedKey)
        }
    }

    // Entry ids and hashes as peers and users write them (`AU:17`, hex).
    let text = String(decoding: bytes, as: UTF8.self)
    _ = EntryID(text)
    if let decoded = [UInt8](hex: text), decoded.hex != text.lowercased() {
        fatalError("hex does not round-trip")
    }

    // A stored row change (read back from the replica for the merge).
    if let change = try? RowChange(serialized: bytes) {
        guard let again = try? RowChange(serialized: change.serialized()), sameChange(again, change) else {
            fatalError("a decoded row change does not round-trip")
        }
    }
    return 0
}

/// A roster's member ids, including the seeds' origin and importers.
let members: Set<String> = ["AU", "JP", "US", "IN", "KR"]

/// Any valid Ed25519 public key will do: the signature is almost never valid,
/// but the verifier still parses it.
let fixedKey: [UInt8] = Array(repeating: 0, count: 31) + [1]

/// serializedBody() of a decoded body decodes to an equal change set.
func checkRoundTrip(_ changeSet: ChangeSet, body: [UInt8]) {
    let reserialized = changeSet.serializedBody()
    let again: ChangeSet
    do { again = try ChangeSet(body: reserialized) } catch {
        fatalError("serializedBody() of a decoded body does not decode: \(error)")
    }
    guard sameChangeSet(again, changeSet) else {
        fatalError("round trip changed the change set:\n\(changeSet)\n\(again)")
    }
    // Deterministic encoding: a second pass gives the same bytes.
    guard again.serializedBody() == reserialized else {
        fatalError("serializedBody() is not stable across a round trip")
    }
}

/// Equality where a NaN real equals a NaN with the same bits (Double's == says
/// NaN != NaN, which is not a round-trip failure).
func sameChangeSet(_ a: ChangeSet, _ b: ChangeSet) -> Bool {
    if a == b { return true }
    return a.formatVersion == b.formatVersion && a.origin == b.origin && a.seq == b.seq && a.hlc == b.hlc
        && a.prevHash == b.prevHash && a.schemaVersion == b.schemaVersion && a.deps == b.deps && a.note == b.note
        && a.nextSigningKey == b.nextSigningKey && a.governance == b.governance
        && a.changes.count == b.changes.count && zip(a.changes, b.changes).allSatisfy(sameChange)
}

func sameChange(_ a: RowChange, _ b: RowChange) -> Bool {
    if a == b { return true }
    return a.table == b.table && a.key == b.key && a.op == b.op && a.replaced == b.replaced
        && a.fields.count == b.fields.count
        && zip(a.fields, b.fields).allSatisfy { x, y in
            x.name == y.name && x.replaced == y.replaced && sameValue(x.value, y.value)
        }
}

func sameValue(_ a: FieldValue, _ b: FieldValue) -> Bool {
    if case .real(let x) = a, case .real(let y) = b { return x.bitPattern == y.bitPattern }
    return a == b
}
