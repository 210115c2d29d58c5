import Foundation

/// The names of the files in a court bundle, formatted and parsed here only. A path read from
/// `bundle.json` is data: it is used only if it has exactly one of these forms, so it can never hold
/// `..`, an absolute path or a name the writer would not make.
///
///     bundle.json                                   the signed index (`CourtBundleIndex`)
///     records-key                                   RECORDS ed25519 <hex> (informational)
///     custody.jsonl                                 custody log entries, one signed line each
///     devices/<DEVICE-ID>.<FP>.pin                  the service's signed pin of a device key (FP: the key's
///                                                   `fingerprintHex`), one per key a bundled recording was received under
///     recordings/<ID>/<segment>.avi                 the recording's segments
///     recordings/<ID>/<ID>.manifest.json / .sig     the device-signed manifest
///     recordings/<ID>/<ID>.receipt                  the service's signed receipt
///     audit/<DEVICE-ID>.<FP>/NNNNNNNNN.jsonl / .head.json the trail the device kept under that key, as
///                                                   docked, and its head
///
/// Bundles of format `bodycam-bundle/1` (written before pin history) have one pin per device,
/// `devices/<DEVICE-ID>.pin`, and `audit/<DEVICE-ID>/...`: read and checked as they were written.
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

    /// The pin of one device key (the device ids' alphabet has no '.', so the name splits back exactly).
    public static func pin(_ deviceID: String, key: PublicKey) -> String { pin(deviceID, fingerprint: key.fingerprintHex) }
    /// The pin of the key with this `fingerprintHex`; nil: the one pin of a device in a `bodycam-bundle/1` bundle.
    public static func pin(_ deviceID: String, fingerprint: String?) -> String {
        devicesFolder + "/" + deviceID + (fingerprint.map { "." + $0 } ?? "") + pinSuffix
    }
    public static func legacyPin(_ deviceID: String) -> String { pin(deviceID, fingerprint: nil) }
    public static func recordingFolder(_ id: EvidenceNames.RecordingID) -> String { recordingsFolder + "/" + id.text }
    public static func manifest(_ id: EvidenceNames.RecordingID) -> String { recordingFolder(id) + "/" + EvidenceNames.manifestName(id) }
    public static func signature(_ id: EvidenceNames.RecordingID) -> String { recordingFolder(id) + "/" + EvidenceNames.signatureName(id) }
    public static func receipt(_ id: EvidenceNames.RecordingID) -> String { recordingFolder(id) + "/" + id.text + receiptSuffix }
    public static func segment(_ s: EvidenceNames.Segment) -> String { recordingFolder(s.recording) + "/" + s.fileName }
    /// The folder of a device's trail kept under the key with this fingerprint (nil: a `bodycam-bundle/1` bundle's).
    public static func auditFolder(_ deviceID: String, fingerprint: String?) -> String {
        auditFolder + "/" + deviceID + (fingerprint.map { "." + $0 } ?? "")
    }
    public static func auditTrail(_ deviceID: String, fingerprint: String?, entries: Int) -> String {
        auditFolder(deviceID, fingerprint: fingerprint) + "/" + RecordsNames.auditCopy(entries: entries, fingerprint: nil)
    }
    public static func auditHead(_ deviceID: String, fingerprint: String?, entries: Int) -> String {
        auditFolder(deviceID, fingerprint: fingerprint) + "/" + RecordsNames.auditHeadCopy(entries: entries, fingerprint: nil)
    }

    /// `DEVICE-ID` or `DEVICE-ID.FP` (a device id and a key's `fingerprintHex`), or nil.
    static func deviceAndFingerprint(_ name: String) -> (device: String, fingerprint: String?)? {
        let parts = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard FrameStamp.isValidDeviceID(String(parts[0])) else { return nil }
        switch parts.count {
        case 1: return (String(parts[0]), nil)
        case 2: return PublicKey.isFingerprintHex(parts[1]) ? (String(parts[0]), String(parts[1])) : nil
        default: return nil
        }
    }

    /// What a bundle path is, by its name alone.
    public enum Kind: Equatable, Sendable {
        case recordsKey, custody
        /// A pin; `fingerprint` nil for the `bodycam-bundle/1` form.
        case pin(device: String, fingerprint: String?)
        case segment(EvidenceNames.Segment)
        case manifest(EvidenceNames.RecordingID)
        case signature(EvidenceNames.RecordingID)
        case receipt(EvidenceNames.RecordingID)
        case auditTrail(device: String, fingerprint: String?, entries: Int)
        case auditHead(device: String, fingerprint: String?, entries: Int)
    }

    /// The kind of a relative path, or nil unless it has exactly a form above (`bundle.json` itself is not
    /// listed in the index, so it is not one of them).
    public static func kind(of path: String) -> Kind? {
        if path == recordsKeyFile { return .recordsKey }
        if path == custodyFile { return .custody }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2, parts[0] == devicesFolder, parts[1].hasSuffix(pinSuffix) {
            return deviceAndFingerprint(String(parts[1].dropLast(pinSuffix.count))).map { .pin(device: $0.device, fingerprint: $0.fingerprint) }
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
        // The folder names the key: the copy's own name carries no fingerprint in a bundle.
        if parts.count == 3, parts[0] == auditFolder, let (device, fingerprint) = deviceAndFingerprint(parts[1]),
           let copy = RecordsNames.AuditCopy.parse(parts[2]), copy.fingerprint == nil, copy.entries >= 1 {
            return copy.isHead ? .auditHead(device: device, fingerprint: fingerprint, entries: copy.entries)
                               : .auditTrail(device: device, fingerprint: fingerprint, entries: copy.entries)
        }
        return nil
    }
}

/// `bundle.json`: what the records service says a court bundle holds, signed with its key in the
/// signed-line form (`{...,"sig":"<base64>"}` and a newline, like a service statement):
///
///     {"format":"bodycam-bundle/2","service":"SHA256:…","created_utc":"…","exported_by":"…",
///      "case_reference":null,"recordings":[{"id":"BWV-0001-000001","pin":"devices/BWV-0001.0123456789abcdef.pin"}],
///      "files":[{"path":"custody.jsonl","bytes":812,"sha256":"…"},…],"sig":"…"}
///
/// `recordings` names for each recording the pin of the key its manifest was verified with when the
/// service received it (a device enrolled again with a new key has a pin per key); `files` lists every
/// other file of the bundle (sorted by path, each once), so a file changed, removed or added is found.
/// This type is the format's only writer and reader: it is accepted only if writing the parsed fields
/// back gives the same bytes. `bodycam-bundle/1` (before pin history: `recordings` a list of ids, one
/// pin per device, `devices/<DEVICE-ID>.pin`) is still read, so bundles handed over before keep verifying.
public struct CourtBundleIndex: Equatable, Sendable {
    public static let format = "bodycam-bundle/2"
    /// The format before pin history: read, never written.
    public static let formatV1 = "bodycam-bundle/1"
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
    /// Each recording's pin file (`CourtBundleLayout.pin(_:key:)`); nil for a `bodycam-bundle/1` index,
    /// whose recordings all use their device's one pin (`CourtBundleLayout.legacyPin`).
    public var pins: [EvidenceNames.RecordingID: String]?
    /// Sorted by path, each once.
    public var files: [File]

    public init(service: String, createdUTC: Int64, exportedBy: String, caseReference: String?,
                recordings: [EvidenceNames.RecordingID], pins: [EvidenceNames.RecordingID: String]?, files: [File]) {
        (self.service, self.createdUTC, self.exportedBy, self.caseReference) = (service, createdUTC, exportedBy, caseReference)
        (self.recordings, self.pins, self.files) = (recordings, pins, files)
    }

    /// The devices whose recordings the bundle holds.
    public var devices: [String] { Array(Set(recordings.map(\.deviceID))).sorted() }

    /// The pin file a recording's manifest is checked under.
    public func pinFile(_ id: EvidenceNames.RecordingID) -> String? {
        guard let pins else { return CourtBundleLayout.legacyPin(id.deviceID) }
        return pins[id]
    }

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
        let recordingJSON: [JSON] = recordings.map { id in
            guard let pins else { return .string(id.text) }
            return .object([("id", .string(id.text)), ("pin", pins[id].map { .string($0) } ?? .null)])
        }
        let json = JSON.object([
            ("format", .string(pins == nil ? Self.formatV1 : Self.format)), ("service", .string(service)),
            ("created_utc", .string(UTC.iso(createdUTC))),
            ("exported_by", .string(exportedBy)), ("case_reference", caseReference.map { .string($0) } ?? .null),
            ("recordings", .array(recordingJSON)), ("files", .array(fileJSON)),
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
        /// A recording: its id (format 1), or its id and pin file (format 2).
        struct WireRecording: Decodable {
            var id: String
            var pin: String?
            var isObject: Bool
            private enum Keys: String, CodingKey { case id, pin }
            init(from decoder: any Decoder) throws {
                if let id = try? decoder.singleValueContainer().decode(String.self) {
                    (self.id, self.pin, self.isObject) = (id, nil, false)
                    return
                }
                let c = try decoder.container(keyedBy: Keys.self)
                (self.id, self.pin, self.isObject) = (try c.decode(String.self, forKey: .id), try c.decode(String.self, forKey: .pin), true)
            }
        }
        var format: String
        var service: String
        var created_utc: String
        var exported_by: String
        var case_reference: String?
        var recordings: [WireRecording]
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
        guard w.format == format || w.format == formatV1 else { throw EvidenceError("unknown format '\(w.format.prefix(40))'") }
        let hasPins = w.format == format
        guard let created = UTC.parse(w.created_utc) else { throw EvidenceError("created_utc is not a time") }
        guard isValidText(w.exported_by), w.case_reference.map(isValidText) ?? true else {
            throw EvidenceError("exported_by or case_reference empty, too long or with control characters")
        }
        guard w.service.hasPrefix("SHA256:"), w.service.utf8.count == 23, Hex.decode(w.service.dropFirst(7)) != nil else {
            throw EvidenceError("service is not a key fingerprint")
        }
        guard !w.recordings.isEmpty, w.files.count <= maxFiles else { throw EvidenceError("no recordings, or too many files") }
        var recordings: [EvidenceNames.RecordingID] = []
        var pins: [EvidenceNames.RecordingID: String] = [:]
        for r in w.recordings {
            guard let id = EvidenceNames.RecordingID.parse(r.id) else { throw EvidenceError("recording '\(r.id.prefix(60))' is not a recording id") }
            guard r.isObject == hasPins else { throw EvidenceError("recording \(id.text): not in the form of \(w.format)") }
            if let pin = r.pin {
                // A pin of this recording's device, in the fingerprinted form.
                guard case .pin(let device, let fingerprint)? = CourtBundleLayout.kind(of: pin), device == id.deviceID, fingerprint != nil else {
                    throw EvidenceError("recording \(id.text): pin '\(pin.prefix(80))' is not a pin file of device \(id.deviceID)")
                }
                pins[id] = pin
            }
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
            case .pin(let d, let fp), .auditTrail(let d, let fp, _), .auditHead(let d, let fp, _):
                guard devices.contains(d) else { throw EvidenceError("file '\(f.path)' is of device \(d), which has no recording here") }
                // Format 1: one pin per device, no fingerprints; format 2: only pins some recording names, and
                // trails only of those keys.
                guard (fp != nil) == hasPins else { throw EvidenceError("file '\(f.path)' is not a \(w.format) path") }
                if let fp, hasPins, !pins.values.contains(CourtBundleLayout.pin(d, fingerprint: fp)) {
                    throw EvidenceError("file '\(f.path)' is of a key no recording here was received under")
                }
            case .segment(let s):
                guard listed.contains(s.recording) else { throw EvidenceError("file '\(f.path)' is of a recording not listed") }
            case .manifest(let id), .signature(let id), .receipt(let id):
                guard listed.contains(id) else { throw EvidenceError("file '\(f.path)' is of a recording not listed") }
            }
            guard f.bytes >= 0, Hex.isDigest(f.sha256) else { throw EvidenceError("file '\(f.path)': bytes or sha256 out of range") }
            files.append(File(path: f.path, bytes: f.bytes, sha256: f.sha256))
        }
        guard zip(files, files.dropFirst()).allSatisfy({ $0.path < $1.path }) else { throw EvidenceError("files not sorted, or one twice") }
        let paths = Set(files.map(\.path))
        for (id, pin) in pins where !paths.contains(pin) {
            throw EvidenceError("recording \(id.text): its pin \(pin) is not among the files")
        }
        let index = CourtBundleIndex(service: w.service, createdUTC: created, exportedBy: w.exported_by, caseReference: w.case_reference,
                                     recordings: recordings, pins: hasPins ? pins : nil, files: files)
        guard index.signedBody == body else { throw EvidenceError("not in the form the records service writes (edited?)") }
        return (index, body, signature)
    }
}
