/// The documented code lists that record fields are checked against.
public enum CodeLists {
    /// Facility kinds.
    public static let facilityKinds: [String] = [
        "mine", "refinery", "processing_plant", "stockpile", "port", "manufacturing",
    ]

    /// Physical forms of a mineral.
    public static let forms: [String] = ["ore", "concentrate", "oxide", "metal", "alloy", "magnet"]

    /// Mineral codes with their names. The rare-earth elements and the other
    /// critical elements go by their chemical symbol; graphite by name.
    public static let minerals: [(code: String, name: String)] = [
        // Rare-earth elements: scandium, yttrium and the lanthanides.
        ("Sc", "scandium"), ("Y", "yttrium"), ("La", "lanthanum"), ("Ce", "cerium"),
        ("Pr", "praseodymium"), ("Nd", "neodymium"), ("Pm", "promethium"), ("Sm", "samarium"),
        ("Eu", "europium"), ("Gd", "gadolinium"), ("Tb", "terbium"), ("Dy", "dysprosium"),
        ("Ho", "holmium"), ("Er", "erbium"), ("Tm", "thulium"), ("Yb", "ytterbium"),
        ("Lu", "lutetium"),
        // Other critical minerals.
        ("Li", "lithium"), ("Co", "cobalt"), ("Ni", "nickel"), ("graphite", "graphite"),
        ("Ga", "gallium"), ("Ge", "germanium"), ("W", "tungsten"), ("Sb", "antimony"),
        ("Mn", "manganese"), ("Cu", "copper"), ("V", "vanadium"), ("Ti", "titanium"),
        ("Nb", "niobium"), ("Ta", "tantalum"), ("In", "indium"), ("Te", "tellurium"),
        ("Pt", "platinum"), ("Pd", "palladium"), ("Mg", "magnesium"), ("Si", "silicon"),
        ("Bi", "bismuth"), ("Cr", "chromium"), ("Zr", "zirconium"), ("Hf", "hafnium"),
        ("Be", "beryllium"), ("Sn", "tin"), ("Zn", "zinc"), ("Al", "aluminium"), ("U", "uranium"),
    ]
    public static let mineralCodes: Set<String> = Set(minerals.map(\.code))

    /// Shipment statuses in their forward order, then `cancelled`.
    public static let shipmentStatuses: [String] = ShipmentStatus.allCases.map(\.rawValue)

    /// ISO 3166-1 alpha-2 country codes (officially assigned).
    public static let countries: Set<String> = Set("""
        AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ \
        BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM \
        DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS \
        GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN \
        KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ \
        MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM \
        PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV \
        SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI \
        VN VU WF WS YE YT ZA ZM ZW
        """.split(separator: " ").map(String.init))
}

/// A shipment's status. The first five move only forward; `cancelled` ends it.
public enum ShipmentStatus: String, CaseIterable, Sendable, Comparable {
    case planned, loading, in_transit, arrived, received, cancelled

    /// Position in the forward order; nil for `cancelled`.
    public var rank: Int? {
        switch self {
        case .planned: 0
        case .loading: 1
        case .in_transit: 2
        case .arrived: 3
        case .received: 4
        case .cancelled: nil
        }
    }

    /// Whether the goods have left (in transit or beyond): past this point a
    /// cancellation no longer takes effect.
    public var hasDeparted: Bool { (rank ?? -1) >= 2 }

    public static func < (a: ShipmentStatus, b: ShipmentStatus) -> Bool { (a.rank ?? 99) < (b.rank ?? 99) }
}
