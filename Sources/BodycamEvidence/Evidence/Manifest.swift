import Crypto
import Foundation

/// One segment file of a recording, as the manifest lists it.
public struct SegmentRecord: Equatable, Sendable {
    public var index: Int
    public var file: String
    /// JPEG frames in the file.
    public var frames: Int
    /// Empty chunks in the file holding the place of frames that never came (so it plays in real time).
    public var missingFrames: Int = 0
    public var bytes: Int
    public var firstSeq: UInt64
    public var lastSeq: UInt64
    public var firstUTC: Int64
    public var lastUTC: Int64
    public var sha256: String

    public init(index: Int, file: String, frames: Int, missingFrames: Int = 0, bytes: Int, firstSeq: UInt64, lastSeq: UInt64,
                firstUTC: Int64, lastUTC: Int64, sha256: String) {
        (self.index, self.file, self.frames, self.missingFrames, self.bytes) = (index, file, frames, missingFrames, bytes)
        (self.firstSeq, self.lastSeq, self.firstUTC, self.lastUTC, self.sha256) = (firstSeq, lastSeq, firstUTC, lastUTC, sha256)
    }

    var json: JSON {
        .object([("index", .int(Int64(index))), ("file", .string(file)), ("frames", .int(Int64(frames))),
                 ("missing_frames", .int(Int64(missingFrames))), ("bytes", .int(Int64(bytes))), ("first_seq", .int(Int64(clamping: firstSeq))),
                 ("last_seq", .int(Int64(clamping: lastSeq))),
                 ("first_utc", .string(UTC.iso(firstUTC))), ("last_utc", .string(UTC.iso(lastUTC))),
                 ("sha256", .string(sha256))])
    }
}

/// A marker the officer added during a recording.
public struct Marker: Equatable, Sendable {
    public var number: Int
    public var utc: Int64
    public var frameSeq: UInt64
    public init(number: Int, utc: Int64, frameSeq: UInt64) {
        self.number = number
        self.utc = utc
        self.frameSeq = frameSeq
    }
}

/// What a finished recording is: which device, when, why, which files with which hashes. Written next to
/// the segments as `<recording id>.manifest.json` with the device's Ed25519 signature of exactly those
/// bytes in `<recording id>.manifest.sig`. This type is the manifest's only writer and reader: a manifest
/// is accepted only if it parses into valid fields AND writing those fields back gives the same bytes.
public struct RecordingManifest: Equatable, Sendable {
    /// The longest pre-record a camera may have (and so a manifest may claim).
    public static let maxPreRecord: Nanos = 120 * Nanos.perSecond
    public static let format = "bodycam-manifest/3"
    public static let maxFileBytes = 16 << 20
    public var deviceID: String
    public var recordingID: String
    public var trigger: String
    /// The officer the camera was assigned to when the recording started (nil: none assigned).
    public var officer: String?
    public var startUTC: Int64
    public var endUTC: Int64
    public var prerecordSeconds: Double
    public var markers: [Marker]
    public var segments: [SegmentRecord]
    /// Frames of this recording the camera could not keep (writer too slow, live capture only).
    public var droppedFrames: UInt64
    /// Frames lost to a write error.
    public var lostFrames: UInt64
    public var complete: Bool
    /// Rebuilt at boot after a crash or power cut, not written when the recording finished.
    public var recovered: Bool
    /// Frames the source itself skipped during the recording (a driver's sequence gaps).
    public var sourceSkippedFrames: UInt64 = 0
    /// For a recovered manifest: the SHA-256 of the manifest the audit trail logged for this recording
    /// before the crash, if it logged one (then the original manifest was lost or removed).
    public var loggedManifestSHA256: String? = nil

    public init(deviceID: String, recordingID: String, trigger: String, officer: String? = nil, startUTC: Int64, endUTC: Int64,
                prerecordSeconds: Double, markers: [Marker], segments: [SegmentRecord], droppedFrames: UInt64, lostFrames: UInt64,
                complete: Bool, recovered: Bool, sourceSkippedFrames: UInt64 = 0, loggedManifestSHA256: String? = nil) {
        (self.deviceID, self.recordingID, self.trigger, self.officer) = (deviceID, recordingID, trigger, officer)
        (self.startUTC, self.endUTC, self.prerecordSeconds, self.markers, self.segments) = (startUTC, endUTC, prerecordSeconds, markers, segments)
        (self.droppedFrames, self.lostFrames, self.complete, self.recovered) = (droppedFrames, lostFrames, complete, recovered)
        (self.sourceSkippedFrames, self.loggedManifestSHA256) = (sourceSkippedFrames, loggedManifestSHA256)
    }

    public var frames: Int { segments.reduce(0) { $0 + $1.frames } }

    public static func jsonName(_ recordingID: String) -> String { recordingID + EvidenceNames.manifestSuffix }
    public static func signatureName(_ recordingID: String) -> String { recordingID + EvidenceNames.signatureSuffix }

    /// The exact bytes that are signed and stored.
    public var bytes: [UInt8] {
        let markerJSON: [JSON] = markers.map {
            .object([("number", .int(Int64($0.number))), ("utc", .string(UTC.iso($0.utc))),
                     ("frame_seq", .int(Int64(clamping: $0.frameSeq)))])
        }
        let json = JSON.object([
            ("format", .string(Self.format)), ("device_id", .string(deviceID)), ("recording_id", .string(recordingID)),
            ("trigger", .string(trigger)), ("officer", officer.map { .string($0) } ?? .null), ("start_utc", .string(UTC.iso(startUTC))), ("end_utc", .string(UTC.iso(endUTC))),
            ("prerecord_s", .double(prerecordSeconds)), ("frames", .int(Int64(frames))),
            ("dropped_frames", .int(Int64(clamping: droppedFrames))), ("lost_frames", .int(Int64(clamping: lostFrames))),
            ("source_skipped_frames", .int(Int64(clamping: sourceSkippedFrames))),
            ("complete", .bool(complete)), ("recovered", .bool(recovered)),
            ("logged_manifest_sha256", loggedManifestSHA256.map { .string($0) } ?? .null),
            ("markers", .array(markerJSON)), ("segments", .array(segments.map(\.json))),
        ])
        return Array((json.serialized + "\n").utf8)
    }

    public var sha256: String { Hex.sha256(bytes) }

    /// Writes the manifest and its signature durably into `directory`. Returns the manifest's SHA-256.
    @discardableResult
    public func write(to directory: String, identity: DeviceIdentity) throws(IOError) -> String {
        let b = bytes
        try FileBytes.writeDurably(directory + "/" + Self.signatureName(recordingID), identity.sign(b).fileBytes)
        try FileBytes.writeDurably(directory + "/" + Self.jsonName(recordingID), b)
        return Hex.sha256(b)
    }

    // MARK: - Reading

    private struct Wire: Decodable {
        struct WireMarker: Decodable { var number: Int; var utc: String; var frame_seq: UInt64 }
        struct WireSegment: Decodable {
            var index: Int, file: String, frames: Int, missing_frames: Int, bytes: Int, first_seq: UInt64, last_seq: UInt64
            var first_utc: String, last_utc: String, sha256: String
        }
        var format: String
        var device_id: String
        var recording_id: String
        var trigger: String
        var officer: String?
        var start_utc: String
        var end_utc: String
        var prerecord_s: Double
        var frames: Int
        var dropped_frames: UInt64
        var lost_frames: UInt64
        var source_skipped_frames: UInt64
        var complete: Bool
        var recovered: Bool
        var logged_manifest_sha256: String?
        var markers: [WireMarker]
        var segments: [WireSegment]
    }

    /// Parses a manifest's bytes strictly. The signature is checked separately (`SignedManifest`).
    public static func parse(_ bytes: [UInt8]) throws(EvidenceError) -> RecordingManifest {
        guard bytes.count <= maxFileBytes else { throw EvidenceError("larger than any manifest (\(bytes.count) bytes)") }
        let w: Wire
        do { w = try JSONDecoder().decode(Wire.self, from: Data(bytes)) } catch {
            throw EvidenceError("not a \(format) manifest (\(Self.brief(error)))")
        }
        guard w.format == format else { throw EvidenceError("unknown format '\(w.format.prefix(40))'") }
        guard FrameStamp.isValidDeviceID(w.device_id) else { throw EvidenceError("device id is not valid") }
        guard let id = EvidenceNames.RecordingID.parse(w.recording_id), id.deviceID == w.device_id else {
            throw EvidenceError("recording id '\(w.recording_id.prefix(60))' is not one of device \(w.device_id)'s")
        }
        func time(_ text: String, _ field: String) throws(EvidenceError) -> Int64 {
            guard let t = UTC.parse(text) else { throw EvidenceError("\(field) is not a time") }
            return t
        }
        var segments: [SegmentRecord] = []
        for (i, s) in w.segments.enumerated() {
            guard let name = EvidenceNames.Segment.parse(s.file), name.recording == id, name.index == s.index, s.index == i + 1 else {
                throw EvidenceError("segment \(i + 1): file name '\(s.file.prefix(80))' is not segment \(i + 1) of \(id.text)")
            }
            guard s.frames >= 1, s.missing_frames >= 0, s.bytes > AVILayout.headerBytes, s.bytes <= AVILayout.maxSegmentBytesLimit,
                  s.first_seq <= s.last_seq, Hex.isDigest(s.sha256) else {
                throw EvidenceError("segment \(i + 1): frames, bytes, sequence numbers or hash out of range")
            }
            segments.append(SegmentRecord(index: s.index, file: s.file, frames: s.frames, missingFrames: s.missing_frames,
                                          bytes: s.bytes, firstSeq: s.first_seq,
                                          lastSeq: s.last_seq, firstUTC: try time(s.first_utc, "first_utc"),
                                          lastUTC: try time(s.last_utc, "last_utc"), sha256: s.sha256))
        }
        var markers: [Marker] = []
        for m in w.markers { markers.append(Marker(number: m.number, utc: try time(m.utc, "marker utc"), frameSeq: m.frame_seq)) }
        if let officer = w.officer, !EvidenceNames.isValidOfficerID(officer) { throw EvidenceError("officer is not a valid officer id") }
        if let logged = w.logged_manifest_sha256, !Hex.isDigest(logged) { throw EvidenceError("logged_manifest_sha256 is not a SHA-256") }
        guard w.prerecord_s.isFinite, (0...Double(RecordingManifest.maxPreRecord / Nanos.perSecond)).contains(w.prerecord_s) else {
            throw EvidenceError("prerecord_s out of range")
        }
        let manifest = RecordingManifest(
            deviceID: w.device_id, recordingID: w.recording_id, trigger: w.trigger, officer: w.officer,
            startUTC: try time(w.start_utc, "start_utc"), endUTC: try time(w.end_utc, "end_utc"),
            prerecordSeconds: w.prerecord_s, markers: markers, segments: segments, droppedFrames: w.dropped_frames,
            lostFrames: w.lost_frames, complete: w.complete, recovered: w.recovered, sourceSkippedFrames: w.source_skipped_frames,
            loggedManifestSHA256: w.logged_manifest_sha256)
        guard manifest.frames == w.frames else { throw EvidenceError("frames \(w.frames) is not the sum over its segments") }
        // Anything we would not have written (other key order, spacing, duplicate keys, extra fields) is refused.
        guard manifest.bytes == bytes else { throw EvidenceError("not in the form the camera writes (edited?)") }
        return manifest
    }

    static func brief(_ error: Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: return "no field '\(key.stringValue)'"
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?:
            return "field '\(c.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        case .dataCorrupted?: return "not valid JSON"
        default: return "unreadable"
        }
    }
}

/// A manifest together with its signature, as read from a folder and checked against a key.
public struct SignedManifest: Sendable {
    public var manifest: RecordingManifest
    public var bytes: [UInt8]
    public var signature: Signature
    public var sha256: String { Hex.sha256(bytes) }

    /// Reads `<id>.manifest.json` and `<id>.manifest.sig` in `directory` (relative to `dirfd` when given).
    /// Throws a message naming the file and the check.
    public static func read(directory: String, id: EvidenceNames.RecordingID, dirfd: Int32? = nil) throws(EvidenceError) -> SignedManifest {
        let manifestName = EvidenceNames.manifestName(id), sigName = EvidenceNames.signatureName(id)
        func load(_ name: String, limit: Int, what: String) throws(EvidenceError) -> [UInt8] {
            do {
                if let dirfd { return try FileBytes.contents(name, limit: limit, at: dirfd) }
                return try FileBytes.contents(directory + "/" + name, limit: limit)
            } catch {
                if case .missing = error { throw EvidenceError("\(directory)/\(name): \(what): missing") }
                throw EvidenceError("\(directory)/\(name): \(what): \(error)")
            }
        }
        let bytes = try load(manifestName, limit: RecordingManifest.maxFileBytes, what: "manifest")
        let manifest: RecordingManifest
        do { manifest = try RecordingManifest.parse(bytes) } catch { throw EvidenceError("\(directory)/\(manifestName): manifest: \(error.message)") }
        guard manifest.recordingID == id.text else {
            throw EvidenceError("\(directory)/\(manifestName): manifest: names recording \(manifest.recordingID), not \(id.text)")
        }
        guard let signature = Signature(fileBytes: try load(sigName, limit: 4096, what: "signature")) else {
            throw EvidenceError("\(directory)/\(sigName): signature: not one canonical base64 Ed25519 signature")
        }
        return SignedManifest(manifest: manifest, bytes: bytes, signature: signature)
    }

    public func isSigned(by key: PublicKey) -> Bool { key.isValidSignature(signature, for: bytes) }
}
