/// The names central records accept from a device: nothing else can name a path there.
public enum RecordsNames {
    public static let auditFolder = "audit"
    public static let trustedKeysFile = "trusted-keys"

    /// An audit trail copy (or its head) as of a dock, by entry count and the key that signed its head:
    ///
    ///     000000123.0123456789abcdef.jsonl / .head.json   since key fingerprints (16 hex: `fingerprintHex`)
    ///     000000123.jsonl / .head.json                    before: still read and accepted (older cameras)
    ///
    /// A camera given a new key starts a new trail, signed by it: the fingerprint keeps its copies apart
    /// from the old trail's copies of the same entry count (records are write-once).
    public struct AuditCopy: Equatable, Hashable, Sendable {
        public var entries: Int
        /// The signing key's `fingerprintHex`; nil in a name from before fingerprints.
        public var fingerprint: String?
        public var isHead: Bool

        public init(entries: Int, fingerprint: String?, isHead: Bool = false) {
            self.entries = entries
            self.fingerprint = fingerprint
            self.isHead = isHead
        }

        static let trailSuffix = ".jsonl", headSuffix = ".head.json"

        public var file: String {
            EvidenceNames.padded(entries, 9) + (fingerprint.map { "." + $0 } ?? "") + (isHead ? Self.headSuffix : Self.trailSuffix)
        }
        /// The trail copy this head belongs to, or the head of this trail copy.
        public var trail: AuditCopy { AuditCopy(entries: entries, fingerprint: fingerprint, isHead: false) }
        public var head: AuditCopy { AuditCopy(entries: entries, fingerprint: fingerprint, isHead: true) }

        /// Exactly the two forms above (9 digits, then optionally a dot and 16 lower-case hex digits), or nil.
        public static func parse<S: StringProtocol>(_ file: S) -> AuditCopy? {
            let file = String(file)
            for (suffix, isHead) in [(headSuffix, true), (trailSuffix, false)] where file.hasSuffix(suffix) {
                let stem = file.dropLast(suffix.count)
                let parts = stem.split(separator: ".", omittingEmptySubsequences: false)
                guard parts[0].utf8.count == 9, parts[0].utf8.allSatisfy(EvidenceNames.isDigit), let entries = Int(parts[0]) else { return nil }
                switch parts.count {
                case 1: return AuditCopy(entries: entries, fingerprint: nil, isHead: isHead)
                case 2 where PublicKey.isFingerprintHex(parts[1]):
                    return AuditCopy(entries: entries, fingerprint: String(parts[1]), isHead: isHead)
                default: return nil
                }
            }
            return nil
        }
    }

    /// `000000123.<FP>.jsonl` / `000000123.<FP>.head.json`: the trail (and its head) signed by the key with
    /// fingerprint `FP` as of a dock. nil: the name without a fingerprint (older cameras; court bundles,
    /// whose trail folders name the key instead).
    public static func auditCopy(entries: Int, fingerprint: String?) -> String {
        AuditCopy(entries: entries, fingerprint: fingerprint).file
    }
    public static func auditHeadCopy(entries: Int, fingerprint: String?) -> String {
        AuditCopy(entries: entries, fingerprint: fingerprint, isHead: true).file
    }

    /// True if `file` may be stored in `folder` of `device`.
    public static func isAcceptable(device: String, folder: String, file: String) -> Bool {
        guard FrameStamp.isValidDeviceID(device) else { return false }
        if folder == auditFolder { return AuditCopy.parse(file) != nil }
        guard let id = EvidenceNames.RecordingID.parse(folder), id.deviceID == device else { return false }
        switch EvidenceNames.kind(of: file) {
        case .segment(let s): return s.recording == id
        case .manifest(let m), .signature(let m): return m == id
        default: return false
        }
    }
}
