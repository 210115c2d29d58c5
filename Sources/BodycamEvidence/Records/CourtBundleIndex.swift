import Foundation

/// The names of the files in a court bundle, formatted and parsed here only. A path read from
/// `bundle.json` is data: it is used only if it has exactly one of these forms, so it can never hold
/// `..`, an absolute path or a name the writer would not make.
///
///     bundle.json                                   the signed index (`CourtBundleIndex`)
///     records-key                                   RECORDS ed25519 <hex> (informational)
///     custody.jsonl                                 custody log entries, one signed line each
///     devices/<DEVICE-ID>.pin                       the service's signed pin of the device key
///     recordings/<ID>/<segment>.avi                 the recording's segments
///     recordings/<ID>/<ID>.manifest.json / .sig     the device-signed manifest
///     recordings/<ID>/<ID>.receipt                  the service's signed receipt
///     audit/<DEVICE-ID>/NNNNNNNNN.jsonl / .head.json the device's audit trail as docked, and its head
public enum CourtBundleLayout {
    public static let indexFile = "bundle.json"
    public static let recordsKeyFile = "records-key"
    public static let custodyFile = "custody.jsonl"
    public static let devicesFolder = "devices"
    public static let recordingsFolder = "recordings"
    public static let auditFolder = RecordsNames.auditFolder
    public static let pinSuffix = ".pin"
    public static let receiptSuffix = ".receipt"
    /// The trusted-keys name of the force's records key: the only key a bundle checker trusts.
    public static let recordsKeyName = "RECORDS"

    public static func pin(_ deviceID: String) -> String { devicesFolder + "/" + deviceID + pinSuffix }
    public static func recordingFolder(_ id: EvidenceNames.RecordingID) -> String { recordingsFolder + "/" + id.text }
    public static func manifest(_ id: EvidenceNames.RecordingID) -> String { recordingFolder(id) + "/" + EvidenceNames.manifestName(id) }
    public static func signature(_ id: EvidenceNames.RecordingID) -> String { recordingFolder(id) + "/" + EvidenceNames.signatureName(id) }
    public static func receipt(_ id: EvidenceNames.RecordingID) -> String { recordingFolder(id) + "/" + id.text + receiptSuffix }
    public static func segment(_ s: EvidenceNames.Segment) -> String { recordingFolder(s.recording) + "/" + s.fileName }
    public static func auditFolder(_ deviceID: String) -> String { auditFolder + "/" + deviceID }
    public static func auditTrail(_ deviceID: String, entries: Int) -> String { auditFolder(deviceID) + "/" + RecordsNames.auditCopy(entries: entries) }
    public static func auditHead(_ deviceID: String, entries: Int) -> String { auditFolder(deviceID) + "/" + RecordsNames.auditHeadCopy(entries: entries) }

    /// What a bundle path is, by its name alone.
    public enum Kind: Equatable, Sendable {
        case recordsKey, custody
        case pin(device: String)
        case segment(EvidenceNames.Segment)
        case manifest(EvidenceNames.RecordingID)
        case signature(EvidenceNames.RecordingID)
        case receipt(EvidenceNames.RecordingID)
        case auditTrail(device: String, entries: Int)
        case auditHead(device: String, entries: Int)
    }

    /// The kind of a relative path, or nil unless it has exactly a form above (`bundle.json` itself is not
    /// listed in the index, so it is not one of them).
    public static func kind(of path: String) -> Kind? {
        if path == recordsKeyFile { return .recordsKey }
        if path == custodyFile { return .custody }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2, parts[0] == devicesFolder, parts[1].hasSuffix(pinSuffix) {
            let device = String(parts[1].dropLast(pinSuffix.count))
            return FrameStamp.isValidDeviceID(device) ? .pin(device: device) : nil
        }
        if parts.count == 3, parts[0] == recordingsFolder, let id = EvidenceNames.RecordingID.parse(parts[1]) {
            if parts[2] == id.text + receiptSuffix { return .receipt(id) }
            switch EvidenceNames.kind(of: parts[2]) {
            case .segment(let s) where s.recording == id: return .segment(s)
            case .manifest(let m) where m == id: return .manifest(id)
            case .signature(let m) where m == id: return .signature(id)
            default: return nil
            }
        }
        if parts.count == 3, parts[0] == auditFolder, FrameStamp.isValidDeviceID(parts[1]),
           RecordsNames.isAcceptable(device: parts[1], folder: auditFolder, file: parts[2]) {
            let isHead = parts[2].hasSuffix(".head.json")
            guard let entries = Int(parts[2].prefix(9)), entries >= 1 else { return nil }
            return isHead ? .auditHead(device: parts[1], entries: entries) : .auditTrail(device: parts[1], entries: entries)
        }
        return nil
    }
}

/// `bundle.json`: what the records service says a court bundle holds, signed with its key in the
/// signed-line form (`{...,"sig":"<base64>"}` and a newline, like a service statement):
///
///     {"format":"bodycam-bundle/1","service":"SHA256:…","created_utc":"…","exported_by":"…",
///      "case_reference":null,"recordings":["BWV-0001-000001"],
///      "files":[{"path":"custody.jsonl","bytes":812,"sha256":"…"},…],"sig":"…"}
///
/// `files` lists every other file of the bundle (sorted by path, each once), so a file changed, removed
/// or added is found. This type is the format's only writer and reader: it is accepted only if writing
/// the parsed fields back gives the same bytes.
public struct CourtBundleIndex: Equatable, Sendable {
    public static let format = "bodycam-bundle/1"
    public static let maxBytes = 16 << 20
    public static let maxFiles = 100_000
    /// Longest `exported_by` / `case_reference`, in UTF-8 bytes.
    public static let maxTextBytes = 256

    public struct File: Equatable, Sendable {
        public var path: String
        public var bytes: Int
        public var sha256: String
        public init(path: String, bytes: Int, sha256: String) { (self.path, self.bytes, self.sha256) = (path, bytes, sha256) }
    }

    /// Fingerprint of the service key that signed it.
    public var service: String
    public var createdUTC: Int64
    public var exportedBy: String
    public var caseReference: String?
    /// Sorted, each once.
    public var recordings: [EvidenceNames.RecordingID]
    /// Sorted by path, each once.
    public var files: [File]

    public init(service: String, createdUTC: Int64, exportedBy: String, caseReference: String?,
                recordings: [EvidenceNames.RecordingID], files: [File]) {
        (self.service, self.createdUTC, self.exportedBy, self.caseReference) = (service, createdUTC, exportedBy, caseReference)
        (self.recordings, self.files) = (recordings, files)
    }

    /// The devices whose recordings the bundle holds.
    public var devices: [String] { Array(Set(recordings.map(\.deviceID))).sorted() }

    /// A free-text field (who exported, case reference): 1 to 256 bytes, no control characters, so it
    /// prints on one line.
    public static func isValidText(_ s: String) -> Bool {
        (1...maxTextBytes).contains(s.utf8.count) && s.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7f }
    }

    /// The signed part: the JSON object without its closing brace (the signature field closes it).
    public var signedBody: [UInt8] {
        let fileJSON: [JSON] = files.map {
            .object([("path", .string($0.path)), ("bytes", .int(Int64($0.bytes))), ("sha256", .string($0.sha256))])
        }
        let json = JSON.object([
            ("format", .string(Self.format)), ("service", .string(service)), ("created_utc", .string(UTC.iso(createdUTC))),
            ("exported_by", .string(exportedBy)), ("case_reference", caseReference.map { .string($0) } ?? .null),
            ("recordings", .array(recordings.map { .string($0.text) })), ("files", .array(fileJSON)),
        ])
        return Array(json.serialized.utf8.dropLast())
    }

    /// The file's bytes, signed with the service key.
    public func signed(_ sign: ([UInt8]) -> Signature) -> [UInt8] {
        let body = signedBody
        return body + AuditTrail.signatureField(sign(body)) + [10]
    }

    private struct Wire: Decodable {
        struct WireFile: Decodable { var path: String; var bytes: Int; var sha256: String }
        var format: String
        var service: String
        var created_utc: String
        var exported_by: String
        var case_reference: String?
        var recordings: [String]
        var files: [WireFile]
    }

    /// Parses `bundle.json` strictly; returns the index with the signed part and the signature, which the
    /// caller checks against the key it trusts. Total: a clear error for anything else.
    public static func parse(_ bytes: [UInt8]) throws(EvidenceError) -> (index: CourtBundleIndex, body: [UInt8], signature: Signature) {
        guard bytes.count <= maxBytes, bytes.last == 10 else { throw EvidenceError("not a \(format) index (one signed line)") }
        let line = bytes.dropLast()
        guard !line.contains(10), let (body, signature) = AuditTrail.splitSignature(line) else {
            throw EvidenceError("not a signed \(format) index (no sig field at its end)")
        }
        let w: Wire
        do { w = try JSONDecoder().decode(Wire.self, from: Data(body + [UInt8(ascii: "}")])) } catch {
            throw EvidenceError("not a \(format) index (\(RecordingManifest.brief(error)))")
        }
        guard w.format == format else { throw EvidenceError("unknown format '\(w.format.prefix(40))'") }
        guard let created = UTC.parse(w.created_utc) else { throw EvidenceError("created_utc is not a time") }
        guard isValidText(w.exported_by), w.case_reference.map(isValidText) ?? true else {
            throw EvidenceError("exported_by or case_reference empty, too long or with control characters")
        }
        guard w.service.hasPrefix("SHA256:"), w.service.utf8.count == 23, Hex.decode(w.service.dropFirst(7)) != nil else {
            throw EvidenceError("service is not a key fingerprint")
        }
        guard !w.recordings.isEmpty, w.files.count <= maxFiles else { throw EvidenceError("no recordings, or too many files") }
        var recordings: [EvidenceNames.RecordingID] = []
        for r in w.recordings {
            guard let id = EvidenceNames.RecordingID.parse(r) else { throw EvidenceError("recording '\(r.prefix(60))' is not a recording id") }
            recordings.append(id)
        }
        guard zip(recordings, recordings.dropFirst()).allSatisfy({ $0 < $1 }) else { throw EvidenceError("recordings not sorted, or one twice") }
        let listed = Set(recordings), devices = Set(recordings.map(\.deviceID))
        var files: [File] = []
        for f in w.files {
            guard let kind = CourtBundleLayout.kind(of: f.path) else { throw EvidenceError("file '\(f.path.prefix(80))' is not a bundle path") }
            // Every file belongs to the bundle's recordings or their devices: nothing else can be carried.
            switch kind {
            case .recordsKey, .custody: break
            case .pin(let d), .auditTrail(let d, _), .auditHead(let d, _):
                guard devices.contains(d) else { throw EvidenceError("file '\(f.path)' is of device \(d), which has no recording here") }
            case .segment(let s):
                guard listed.contains(s.recording) else { throw EvidenceError("file '\(f.path)' is of a recording not listed") }
            case .manifest(let id), .signature(let id), .receipt(let id):
                guard listed.contains(id) else { throw EvidenceError("file '\(f.path)' is of a recording not listed") }
            }
            guard f.bytes >= 0, Hex.isDigest(f.sha256) else { throw EvidenceError("file '\(f.path)': bytes or sha256 out of range") }
            files.append(File(path: f.path, bytes: f.bytes, sha256: f.sha256))
        }
        guard zip(files, files.dropFirst()).allSatisfy({ $0.path < $1.path }) else { throw EvidenceError("files not sorted, or one twice") }
        let index = CourtBundleIndex(service: w.service, createdUTC: created, exportedBy: w.exported_by, caseReference: w.case_reference,
                                     recordings: recordings, files: files)
        guard index.signedBody == body else { throw EvidenceError("not in the form the records service writes (edited?)") }
        return (index, body, signature)
    }
}
