/// One segment file of a recording, as the manifest lists it.
public struct SegmentRecord: Equatable, Sendable {
    public var index: Int
    public var file: String
    public var frames: Int
    public var bytes: Int
    public var firstSeq: UInt64
    public var lastSeq: UInt64
    public var firstUTC: Int64
    public var lastUTC: Int64
    public var sha256: String

    var json: JSON {
        .object([("index", .int(Int64(index))), ("file", .string(file)), ("frames", .int(Int64(frames))),
                 ("bytes", .int(Int64(bytes))), ("first_seq", .int(Int64(firstSeq))), ("last_seq", .int(Int64(lastSeq))),
                 ("first_utc", .string(UTC.iso(firstUTC))), ("last_utc", .string(UTC.iso(lastUTC))),
                 ("sha256", .string(sha256))])
    }
}

/// A marker the officer added during a recording.
public struct Marker: Equatable, Sendable {
    public var number: Int
    public var utc: Int64
    public var frameSeq: UInt64
}

/// What a finished recording is: which device, when, why, which files with which hashes. Written next to
/// the segments as `<recording id>.manifest.json` with the device's Ed25519 signature of exactly those
/// bytes in `<recording id>.manifest.sig`.
public struct RecordingManifest: Equatable, Sendable {
    public static let format = "bodycam-manifest/1"
    public var deviceID: String
    public var recordingID: String
    public var trigger: String
    public var startUTC: Int64
    public var endUTC: Int64
    public var prerecordSeconds: Double
    public var markers: [Marker]
    public var segments: [SegmentRecord]
    public var droppedFrames: UInt64
    public var lostFrames: UInt64
    public var complete: Bool
    public var recovered: Bool

    public var frames: Int { segments.reduce(0) { $0 + $1.frames } }

    public static func jsonName(_ recordingID: String) -> String { recordingID + ".manifest.json" }
    public static func signatureName(_ recordingID: String) -> String { recordingID + ".manifest.sig" }

    /// The exact bytes that are signed and stored.
    public var bytes: [UInt8] {
        let markerJSON: [JSON] = markers.map {
            .object([("number", .int(Int64($0.number))), ("utc", .string(UTC.iso($0.utc))), ("frame_seq", .int(Int64($0.frameSeq)))])
        }
        let json = JSON.object([
            ("format", .string(Self.format)), ("device_id", .string(deviceID)), ("recording_id", .string(recordingID)),
            ("trigger", .string(trigger)), ("start_utc", .string(UTC.iso(startUTC))), ("end_utc", .string(UTC.iso(endUTC))),
            ("prerecord_s", .double(prerecordSeconds)), ("frames", .int(Int64(frames))),
            ("dropped_frames", .int(Int64(droppedFrames))), ("lost_frames", .int(Int64(lostFrames))),
            ("complete", .bool(complete)), ("recovered", .bool(recovered)),
            ("markers", .array(markerJSON)), ("segments", .array(segments.map(\.json))),
        ])
        return Array((json.serialized + "\n").utf8)
    }

    /// Writes the manifest and its signature durably into `directory`. Returns the manifest's SHA-256.
    @discardableResult
    public func write(to directory: String, identity: DeviceIdentity) throws(IOError) -> String {
        let b = bytes
        try FileBytes.writeDurably(directory + "/" + Self.signatureName(recordingID), Array((identity.sign(b) + "\n").utf8))
        try FileBytes.writeDurably(directory + "/" + Self.jsonName(recordingID), b)
        return Hex.encode(SHA256Digest.of(b))
    }
}

import Crypto

enum SHA256Digest {
    static func of(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }
}
