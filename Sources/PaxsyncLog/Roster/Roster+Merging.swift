import PaxsyncModel

extension Roster {
    /// This roster with the members of `other` it does not list yet, appended in
    /// `other`'s order: how a node learns its peers from their roster files.
    ///
    /// A member listed in both must have the same signing key; the entry already
    /// here is kept as it is (its name and address are not taken from `other`),
    /// except that it takes `other`'s TLS pin when it has none. Two different pins
    /// for one member are refused, as two keys are.
    /// The coalition name and format are this roster's.
    ///
    /// - Parameters:
    ///   - other: The roster whose members to add.
    ///   - source: Where `other` came from (a file), named in errors.
    /// - Returns: The merged roster, and the members it gained.
    /// - Throws: `badInput` when a member of `other` is listed with another key.
    public func merging(_ other: Roster, source: String) throws(PaxsyncError) -> (roster: Roster, added: [RosterMember]) {
        var merged = self
        var added: [RosterMember] = []
        for member in other.members {
            if let index = merged.members.firstIndex(where: { $0.id == member.id }) {
                let existing = merged.members[index]
                guard existing.signingKey == member.signingKey else {
                    throw PaxsyncError(.badInput, "\(member.id) is already in the roster with another key", subject: source)
                }
                switch (existing.tlsPin, member.tlsPin) {
                case (nil, let pin?):
                    merged.members[index].tlsPin = pin   // a pin is learned as the member was
                case (let here?, let there?) where here != there:
                    throw PaxsyncError(.badInput, "\(member.id) is already in the roster with another TLS pin", subject: source)
                default: break
                }
                continue
            }
            merged.members.append(member)
            added.append(member)
        }
        return (merged, added)
    }

    /// This roster with one more member.
    ///
    /// - Throws: `usage` when the roster already lists a member with that id,
    ///   whatever its key.
    public func adding(_ member: RosterMember) throws(PaxsyncError) -> Roster {
        guard self.member(member.id) == nil else { throw PaxsyncError(.usage, "already in the roster", subject: member.id) }
        var roster = self
        roster.members.append(member)
        return roster
    }
}
