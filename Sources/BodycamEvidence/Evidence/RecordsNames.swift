/// The names central records accept from a device: nothing else can name a path there.
public enum RecordsNames {
    public static let auditFolder = "audit"
    public static let trustedKeysFile = "trusted-keys"

    /// `000000123.jsonl` / `000000123.head.json`: the trail (and its head) as of a dock, by entry count.
    public static func auditCopy(entries: Int) -> String { EvidenceNames.padded(entries, 9) + ".jsonl" }
    public static func auditHeadCopy(entries: Int) -> String { EvidenceNames.padded(entries, 9) + ".head.json" }

    /// True if `file` may be stored in `folder` of `device`.
    public static func isAcceptable(device: String, folder: String, file: String) -> Bool {
        guard FrameStamp.isValidDeviceID(device) else { return false }
        if folder == auditFolder {
            for suffix in [".jsonl", ".head.json"] where file.hasSuffix(suffix) {
                let stem = file.dropLast(suffix.count)
                return stem.count == 9 && stem.utf8.allSatisfy(EvidenceNames.isDigit)
            }
            return false
        }
        guard let id = EvidenceNames.RecordingID.parse(folder), id.deviceID == device else { return false }
        switch EvidenceNames.kind(of: file) {
        case .segment(let s): return s.recording == id
        case .manifest(let m), .signature(let m): return m == id
        default: return false
        }
    }
}
