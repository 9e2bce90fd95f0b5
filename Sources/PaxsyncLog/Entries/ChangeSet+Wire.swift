import Foundation
import PaxsyncModel
import SwiftProtobuf

// Conversion between the model's change sets and the generated wire messages.
// Generated types stay inside this target.

extension ChangeSet {
    /// Serializes to the protobuf body bytes that are signed and stored.
    public func serializedBody() -> [UInt8] {
        var wire = Paxsync_V1_ChangeSet()
        wire.formatVersion = formatVersion
        wire.origin = origin
        wire.seq = seq
        wire.hlc = hlc.rawValue
        wire.prevHash = Data(prevHash)
        wire.schemaVersion = schemaVersion
        wire.deps = deps.sorted { $0.key < $1.key }.map { origin, seq in
            var d = Paxsync_V1_Dependency()
            d.origin = origin
            d.seq = seq
            return d
        }
        wire.changes = changes.map { $0.toWire() }
        wire.note = note
        if let nextSigningKey { wire.nextSigningKey = Data(nextSigningKey) }
        if let governance { wire.governance = governance.toWire() }
        // Deterministic so the same change set always gives the same bytes.
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        return Array(try! wire.serializedBytes(options: options) as [UInt8])
    }

    /// Decodes body bytes. Throws `malformedEntry` naming what is wrong.
    public init(body: [UInt8]) throws(PaxsyncError) {
        let wire: Paxsync_V1_ChangeSet
        do { wire = try Paxsync_V1_ChangeSet(serializedBytes: body) } catch {
            throw PaxsyncError(.malformedEntry, "the entry body is not a valid ChangeSet message", underlying: error)
        }
        let id = "\(wire.origin):\(wire.seq)"
        guard Identifier.isValidMember(wire.origin) else {
            throw PaxsyncError(.malformedEntry, "origin \"\(wire.origin)\" is not a member id", subject: id)
        }
        var deps: [String: UInt64] = [:]
        for d in wire.deps {
            guard Identifier.isValidMember(d.origin), deps.updateValue(d.seq, forKey: d.origin) == nil else {
                throw PaxsyncError(.malformedEntry, "dependency \"\(d.origin)\" is malformed or repeated", subject: id)
            }
        }
        var changes: [RowChange] = []
        changes.reserveCapacity(wire.changes.count)
        for c in wire.changes {
            do { changes.append(try RowChange(wire: c)) } catch { throw error.within(id) }
        }
        self.init(origin: wire.origin, seq: wire.seq, hlc: HLC(rawValue: wire.hlc), prevHash: Array(wire.prevHash),
                  deps: deps, changes: changes, note: wire.note,
                  formatVersion: wire.formatVersion, schemaVersion: wire.schemaVersion,
                  nextSigningKey: wire.nextSigningKey.isEmpty ? nil : Array(wire.nextSigningKey),
                  governance: wire.hasGovernance ? try GovernanceAction(wire: wire.governance, subject: id) : nil)
    }
}

extension EntryRef {
    func toWire() -> Paxsync_V1_EntryRef {
        var w = Paxsync_V1_EntryRef()
        w.origin = origin
        w.seq = seq
        w.hash = Data(hash)
        return w
    }

    init(wire: Paxsync_V1_EntryRef) {
        self.init(origin: wire.origin, seq: wire.seq, hash: Array(wire.hash))
    }
}

extension GovernedMember {
    func toWire() -> Paxsync_V1_Member {
        var w = Paxsync_V1_Member()
        w.id = id
        w.country = country
        w.name = name
        w.signingKey = Data(signingKey)
        w.address = address
        if let tlsPin { w.tlsPin = Data(tlsPin) }
        return w
    }

    init(wire: Paxsync_V1_Member) {
        self.init(id: wire.id, country: wire.country, name: wire.name, signingKey: Array(wire.signingKey), address: wire.address,
                  tlsPin: wire.tlsPin.isEmpty ? nil : Array(wire.tlsPin))
    }
}

extension GovernanceAction {
    func toWire() -> Paxsync_V1_Governance {
        var w = Paxsync_V1_Governance()
        switch self {
        case .tlsPin(let pin):
            w.tlsPin = Data(pin)
        case .approval(let ref):
            var a = Paxsync_V1_Approval()
            a.proposal = ref.toWire()
            w.approval = a
        case .proposal(let decision, let reason):
            var p = Paxsync_V1_Proposal()
            p.reason = reason
            switch decision {
            case .admit(let m): p.admit = m.toWire()
            case .suspend(let id): p.suspend = id
            case .reinstate(let id): p.reinstate = id
            case .remove(let id, let cut):
                var r = Paxsync_V1_Removal()
                r.member = id
                r.cutSeq = cut
                p.remove = r
            case .quorum(let rule):
                var q = Paxsync_V1_QuorumRule()
                q.numerator = rule.numerator
                q.denominator = rule.denominator
                p.quorum = q
            case .void(let ref): p.void = ref.toWire()
            case .resolve(let ref): p.resolve = ref.toWire()
            case .revoke(let id, let from, let key):
                var r = Paxsync_V1_Revocation()
                r.member = id
                r.fromSeq = from
                r.newKey = Data(key)
                p.revoke = r
            }
            w.proposal = p
        }
        return w
    }

    init(wire: Paxsync_V1_Governance, subject: String) throws(PaxsyncError) {
        switch wire.action {
        case .tlsPin(let pin)?:
            self = .tlsPin(Array(pin))
        case .approval(let a)?:
            self = .approval(EntryRef(wire: a.proposal))
        case .proposal(let p)?:
            let decision: GovernanceDecision
            switch p.decision {
            case .admit(let m)?: decision = .admit(GovernedMember(wire: m))
            case .suspend(let id)?: decision = .suspend(id)
            case .reinstate(let id)?: decision = .reinstate(id)
            case .remove(let r)?: decision = .remove(member: r.member, cutSeq: r.cutSeq)
            case .quorum(let q)?: decision = .quorum(QuorumRule(numerator: q.numerator, denominator: q.denominator))
            case .void(let ref)?: decision = .void(EntryRef(wire: ref))
            case .resolve(let ref)?: decision = .resolve(EntryRef(wire: ref))
            case .revoke(let r)?: decision = .revoke(member: r.member, fromSeq: r.fromSeq, newKey: Array(r.newKey))
            case nil: throw PaxsyncError(.malformedEntry, "the proposal names no decision", subject: subject)
            }
            self = .proposal(decision, reason: p.reason)
        case nil:
            throw PaxsyncError(.malformedEntry, "the governance action is neither a proposal nor an approval", subject: subject)
        }
    }
}

extension RowChange {
    func toWire() -> Paxsync_V1_RowChange {
        var w = Paxsync_V1_RowChange()
        w.table = table
        w.key = key
        w.op = switch op {
        case .create: .create
        case .update: .update
        case .delete: .delete
        case .adjust: .adjust
        }
        w.fields = fields.map { f in
            var wf = Paxsync_V1_FieldChange()
            wf.name = f.name
            wf.value = f.value.toWire()
            if let r = f.replaced { wf.replaced = r.toWire() }
            return wf
        }
        if let replaced { w.replaced = replaced.toWire() }
        return w
    }

    init(wire w: Paxsync_V1_RowChange) throws(PaxsyncError) {
        let record = "\(w.table) \(w.key)"
        let op: ChangeOp
        switch w.op {
        case .create: op = .create
        case .update: op = .update
        case .delete: op = .delete
        case .adjust: op = .adjust
        default: throw PaxsyncError(.malformedEntry, "unknown row operation \(w.op.rawValue)", subject: record)
        }
        var fields: [FieldChange] = []
        for f in w.fields {
            guard f.hasValue, let value = FieldValue(wire: f.value) else {
                throw PaxsyncError(.malformedEntry, "field \(f.name) has no value", subject: record)
            }
            let replaced = try f.hasReplaced ? Stamp(wire: f.replaced, subject: record) : nil
            fields.append(FieldChange(name: f.name, value: value, replaced: replaced))
        }
        let replaced = try w.hasReplaced ? Stamp(wire: w.replaced, subject: record) : nil
        self.init(table: w.table, key: w.key, op: op, fields: fields, replaced: replaced)
    }

    /// The row change alone, serialized (stored per record for the merge).
    public func serialized() -> [UInt8] {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        return Array(try! toWire().serializedBytes(options: options) as [UInt8])
    }

    public init(serialized bytes: [UInt8]) throws(PaxsyncError) {
        let wire: Paxsync_V1_RowChange
        do { wire = try Paxsync_V1_RowChange(serializedBytes: bytes) } catch {
            throw PaxsyncError(.storage, "a stored row change does not decode", underlying: error)
        }
        try self.init(wire: wire)
    }
}

extension Stamp {
    func toWire() -> Paxsync_V1_Stamp {
        var s = Paxsync_V1_Stamp()
        s.hlc = hlc.rawValue
        s.origin = origin
        return s
    }

    init(wire: Paxsync_V1_Stamp, subject: String) throws(PaxsyncError) {
        guard Identifier.isValidMember(wire.origin) else {
            throw PaxsyncError(.malformedEntry, "a replaced stamp names origin \"\(wire.origin)\"", subject: subject)
        }
        self.init(hlc: HLC(rawValue: wire.hlc), origin: wire.origin)
    }
}

extension FieldValue {
    func toWire() -> Paxsync_V1_Value {
        var v = Paxsync_V1_Value()
        switch self {
        case .null: v.null = true
        case .integer(let i): v.integer = i
        case .real(let d): v.real = d
        case .text(let s): v.text = s
        }
        return v
    }

    init?(wire: Paxsync_V1_Value) {
        switch wire.kind {
        case .null: self = .null
        case .integer(let i): self = .integer(i)
        case .real(let d): self = .real(d)
        case .text(let s): self = .text(s)
        case nil: return nil
        }
    }
}

extension ChangeSet {
    /// The origin and sequence number a body announces, read by swift-protobuf
    /// from its leading fields (`ChangeSetHeader`) without decoding the changes;
    /// nil when the body is not a valid protobuf message or names no valid
    /// origin. Says nothing about the signature or the rest of the body: it
    /// names an entry in messages and tells a session what a peer sent.
    public static func headerID(body: [UInt8]) -> EntryID? {
        var options = BinaryDecodingOptions()
        options.discardUnknownFields = true
        guard let header = try? Paxsync_V1_ChangeSetHeader(serializedBytes: body, options: options),
              Identifier.isValidMember(header.origin), header.seq > 0 else { return nil }
        return EntryID(origin: header.origin, seq: header.seq)
    }
}

extension ChangeSet {
    /// Where each row change lies in `body`: the bytes of every `changes` element
    /// (field 8 of `ChangeSet`), in the order the message holds them, which decode
    /// alone as a `RowChange` (`RowChange(serialized:)`). The replica's record
    /// histories refer to these ranges of the logged body instead of copying them.
    ///
    /// swift-protobuf decodes a message but does not say where a field's bytes
    /// lie, so this walks the body's top-level fields by their wire types (varint,
    /// 64-bit, length-delimited, group, 32-bit). Nil when the body is not a
    /// well-formed sequence of fields; a body `init(body:)` decoded is one.
    public static func changeRanges(body: [UInt8]) -> [Range<Int>]? {
        var reader = WireReader(bytes: body)
        var ranges: [Range<Int>] = []
        while !reader.atEnd {
            guard let tag = reader.varint(), tag >> 3 > 0 else { return nil }
            let field = tag >> 3
            if field == 8 && tag & 7 == 2 {
                guard let length = reader.varint(), let range = reader.skip(length) else { return nil }
                ranges.append(range)
            } else {
                guard reader.skipValue(tag: tag, depth: 0) else { return nil }
            }
        }
        return ranges
    }
}

/// Reads protobuf wire-format fields without decoding them.
struct WireReader {
    let bytes: [UInt8]
    var offset = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count && shift < 64 {
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    /// Skips `count` bytes; returns their range.
    mutating func skip(_ count: UInt64) -> Range<Int>? {
        guard count <= UInt64(bytes.count - offset) else { return nil }
        let range = offset..<(offset + Int(count))
        offset = range.upperBound
        return range
    }

    /// Skips the value of a field whose tag was just read. Groups nest at most
    /// 100 deep (swift-protobuf's decoding limit).
    mutating func skipValue(tag: UInt64, depth: Int) -> Bool {
        switch tag & 7 {
        case 0: return varint() != nil
        case 1: return skip(8) != nil
        case 2: return varint().flatMap { skip($0) } != nil
        case 5: return skip(4) != nil
        case 3:
            guard depth < 100 else { return false }
            while true {
                guard let inner = varint(), inner >> 3 > 0 else { return false }
                if inner & 7 == 4 { return inner >> 3 == tag >> 3 }
                guard skipValue(tag: inner, depth: depth + 1) else { return false }
            }
        default: return false
        }
    }
}
