import Foundation
import PaxsyncModel
import SwiftProtobuf

/// The portable audit bundle (PROTOCOL.md, "Bundles"): the 8 ASCII bytes
/// `PXBUNDL1`, then frames of a 4-byte big-endian length and a message: first a
/// `BundleHeader` (the roster's public keys), then one `SignedEntry` per entry
/// in the exporting node's log order, which respects causality.
public enum BundleFormat {
    public static let magic: [UInt8] = Array("PXBUNDL1".utf8)
    /// Largest frame a reader accepts.
    public static let maxFrame = 64 << 20

    public struct Header: Sendable {
        public var exportedBy: String
        public var exportedAtMilliseconds: UInt64
        public var roster: Roster
        public var entryCount: UInt64
        /// The coalition's genesis, signed by every founder, when the exporting node has one.
        public var genesis: Genesis?
        /// Entries of superseded branches among the frames (§3.5).
        public var superseded: [EntryRef]

        public init(exportedBy: String, exportedAtMilliseconds: UInt64, roster: Roster, entryCount: UInt64, genesis: Genesis? = nil,
                    superseded: [EntryRef] = []) {
            self.genesis = genesis
            self.superseded = superseded
            self.exportedBy = exportedBy
            self.exportedAtMilliseconds = exportedAtMilliseconds
            self.roster = roster
            self.entryCount = entryCount
        }
    }

    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        let n = UInt32(payload.count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
    }

    public static func encodeHeader(_ header: Header) -> [UInt8] {
        var w = Paxsync_V1_BundleHeader()
        w.formatVersion = 1
        w.exportedBy = header.exportedBy
        w.exportedAtMs = header.exportedAtMilliseconds
        w.entryCount = header.entryCount
        w.members = header.roster.members.map { m in
            var wm = Paxsync_V1_Member()
            wm.id = m.id
            wm.country = m.country
            wm.name = m.name
            wm.signingKey = Data(base64Encoded: m.signingKey) ?? Data()
            wm.address = m.address
            return wm
        }
        if let genesis = header.genesis {
            w.genesis = Data(genesis.body)
            w.genesisSignatures = genesis.signatures.sorted { $0.key < $1.key }.map { member, signature in
                var g = Paxsync_V1_GenesisSignature()
                g.member = member
                g.signature = Data(signature)
                return g
            }
        }
        w.superseded = header.superseded.map { $0.toWire() }
        return Array(try! w.serializedBytes() as [UInt8])
    }

    public static func decodeHeader(_ bytes: [UInt8], source: String) throws(PaxsyncError) -> Header {
        let w: Paxsync_V1_BundleHeader
        do { w = try Paxsync_V1_BundleHeader(serializedBytes: bytes) } catch {
            throw PaxsyncError(.badInput, "the bundle header does not decode", subject: source, underlying: error)
        }
        guard w.formatVersion == 1 else {
            throw PaxsyncError(.badInput, "bundle format \(w.formatVersion) is not supported", subject: source)
        }
        let roster = Roster(coalition: "from bundle", members: w.members.map {
            RosterMember(id: $0.id, country: $0.country, name: $0.name,
                         signingKey: $0.signingKey.base64EncodedString(), address: $0.address)
        })
        try roster.validate(source: "\(source) header")
        var genesis: Genesis?
        if !w.genesis.isEmpty {
            var signatures: [String: [UInt8]] = [:]
            for s in w.genesisSignatures { signatures[s.member] = Array(s.signature) }
            let carried = try Genesis(body: Array(w.genesis), signatures: signatures, source: "\(source) genesis")
            try carried.requireComplete(source: "\(source) genesis")
            genesis = carried
        }
        return Header(exportedBy: w.exportedBy, exportedAtMilliseconds: w.exportedAtMs, roster: roster, entryCount: w.entryCount,
                      genesis: genesis, superseded: w.superseded.map(EntryRef.init(wire:)))
    }
}
