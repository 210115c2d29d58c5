/// The names of every evidence file, written and parsed here and nowhere else. A name read back from
/// disk or from a manifest is data an attacker may have written: it is accepted only if it has exactly
/// the form below, so it can never hold a path separator, `..`, or another recording's id.
///
///     BWV-0001-000123                                   recording id: <device id>-<counter, 6+ digits>
///     20260101T080012.200Z_BWV-0001-000123_001.avi      segment: <UTC start>_<recording id>_<index>.avi
///     BWV-0001-000123.manifest.json / .manifest.sig     the signed manifest
public enum EvidenceNames {
    /// An officer's id (badge number): 1 to 32 of A-Z, a-z, 0-9, '-', '_'. It appears in frame stamps,
    /// manifests, audit entries and the records' catalogue, so it can never carry a separator or quote.
    public static func isValidOfficerID(_ id: String) -> Bool {
        (1...32).contains(id.utf8.count) && id.utf8.allSatisfy { isDigit($0) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 }
    }

    public static let segmentSuffix = ".avi"
    public static let unfinishedSuffix = ".part"
    public static let manifestSuffix = ".manifest.json"
    public static let signatureSuffix = ".manifest.sig"
    /// Most digits of a recording counter or segment index: far beyond any device's life, and the values
    /// always fit an Int.
    static let maxDigits = 9

    // MARK: - Recording ids

    public struct RecordingID: Equatable, Hashable, Sendable, Comparable, CustomStringConvertible {
        public var deviceID: String
        public var number: Int
        public init(deviceID: String, number: Int) {
            self.deviceID = deviceID
            self.number = number
        }
        /// `BWV-0001-000123`.
        public var text: String { deviceID + "-" + padded(number, 6) }
        public var description: String { text }
        public static func < (a: Self, b: Self) -> Bool { (a.deviceID, a.number) < (b.deviceID, b.number) }

        /// Parses `<device id>-<digits>`; nil unless it has exactly that form.
        public static func parse<S: StringProtocol>(_ text: S) -> RecordingID? {
            let bytes = Array(text.utf8)
            guard let dash = bytes.lastIndex(of: UInt8(ascii: "-")) else { return nil }
            let digits = bytes[(dash + 1)...]
            let device = String(decoding: bytes[..<dash], as: UTF8.self)
            guard (6...maxDigits).contains(digits.count), digits.allSatisfy(isDigit), FrameStamp.isValidDeviceID(device),
                  let n = Int(String(decoding: digits, as: UTF8.self)) else { return nil }
            let id = RecordingID(deviceID: device, number: n)
            return id.text == String(decoding: bytes, as: UTF8.self) ? id : nil // canonical: no extra leading zeros
        }
    }

    // MARK: - Segments

    public struct Segment: Equatable, Hashable, Sendable {
        public var startUTC: Int64
        public var recording: RecordingID
        /// 1 for the first segment of a recording.
        public var index: Int
        public init(startUTC: Int64, recording: RecordingID, index: Int) {
            self.startUTC = startUTC
            self.recording = recording
            self.index = index
        }
        /// `20260101T080012.200Z_BWV-0001-000123_001.avi`: sorts in time order, names its recording.
        public var fileName: String { UTC.compact(startUTC) + "_" + recording.text + "_" + padded(index, 3) + segmentSuffix }
        /// The name while it is being written.
        public var unfinishedName: String { fileName + unfinishedSuffix }

        /// Parses a finished segment's file name (`.avi`); nil unless it has exactly the form written.
        public static func parse(_ name: String) -> Segment? {
            guard name.hasSuffix(segmentSuffix) else { return nil }
            return parseStem(name.utf8.dropLast(segmentSuffix.utf8.count), expected: name)
        }

        /// Parses an unfinished segment's name (`.avi.part`).
        public static func parseUnfinished(_ name: String) -> Segment? {
            guard name.hasSuffix(segmentSuffix + unfinishedSuffix) else { return nil }
            let stem = String(decoding: name.utf8.dropLast(unfinishedSuffix.utf8.count), as: UTF8.self)
            return parse(stem)
        }

        private static func parseStem(_ stem: Substring.UTF8View, expected: String) -> Segment? {
            let bytes = Array(stem)
            // <20-character compact UTC>_<recording id>_<index>
            guard bytes.count > 22, bytes[20] == UInt8(ascii: "_"), let last = bytes.lastIndex(of: UInt8(ascii: "_")),
                  last > 21 else { return nil }
            let digits = bytes[(last + 1)...]
            guard (3...maxDigits).contains(digits.count), digits.allSatisfy(isDigit),
                  let index = Int(String(decoding: digits, as: UTF8.self)), index >= 1,
                  let utc = UTC.parseCompact(String(decoding: bytes[0..<20], as: UTF8.self)),
                  let recording = RecordingID.parse(String(decoding: bytes[21..<last], as: UTF8.self)) else { return nil }
            let segment = Segment(startUTC: utc, recording: recording, index: index)
            return segment.fileName == expected ? segment : nil
        }
    }

    // MARK: - Manifests

    public static func manifestName(_ id: RecordingID) -> String { id.text + manifestSuffix }
    public static func signatureName(_ id: RecordingID) -> String { id.text + signatureSuffix }

    /// The recording a manifest file name belongs to.
    public static func parseManifestName(_ name: String) -> RecordingID? {
        guard name.hasSuffix(manifestSuffix) else { return nil }
        return RecordingID.parse(name.dropLast(manifestSuffix.count))
    }

    /// What a file in a recordings folder is, by its name alone.
    public enum Kind: Equatable, Sendable {
        case segment(Segment)
        case unfinishedSegment(Segment)
        case manifest(RecordingID)
        case signature(RecordingID)
        /// The preallocated reserve the writer gives up when the disk fills.
        case spaceReserve
        /// Not a name this camera writes.
        case unknown
    }

    public static let spaceReserveName = ".space-reserve"

    public static func kind(of name: String) -> Kind {
        if name == spaceReserveName { return .spaceReserve }
        if let s = Segment.parse(name) { return .segment(s) }
        if let s = Segment.parseUnfinished(name) { return .unfinishedSegment(s) }
        if let id = parseManifestName(name) { return .manifest(id) }
        if name.hasSuffix(signatureSuffix), let id = RecordingID.parse(name.dropLast(signatureSuffix.count)) { return .signature(id) }
        return .unknown
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    static func padded(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
