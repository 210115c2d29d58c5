import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// The evidence step of the writer: the SHA-256 of each finished segment (and its `segment` event), and
/// for each finished recording the signed manifest, its audit entry and its `manifest` event. Runs on the
/// writer thread only; every field it writes comes from the segments actually on disk.
final class RecordingEvidence {
    private let directory: String
    private let fps: Int
    private let evidence: Evidence?
    private let events: EventSink
    /// Reused for hashing each finished segment. Read through a buffer, not mapped: a mapping would count
    /// the whole segment in resident memory while it is hashed (seen: 393 MiB peak against 322).
    private let hashBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 64)

    init(directory: String, fps: Int, evidence: Evidence?, events: EventSink) {
        self.directory = directory
        self.fps = fps
        self.evidence = evidence
        self.events = events
        hashBuffer.initializeMemory(as: UInt8.self, repeating: 0) // resident from the start
    }

    deinit { hashBuffer.deallocate() }

    /// What a closed segment holds, as the writer saw each frame go in.
    struct ClosedSegment {
        var recordingID: String
        var index: Int
        var path: String
        var bytes: Int
        var frames: Int
        /// Empty chunks holding the place of frames that never came.
        var placeholders: Int
        var firstSeq: UInt64
        var lastSeq: UInt64
        var firstUTC: Int64
        var lastUTC: Int64
    }

    /// Makes the audit trail durable so far.
    func syncAudit() { evidence?.audit.sync() }

    /// Hashes a segment that was just closed (its header is only final now, so the hash is taken here,
    /// from the page cache the writes just filled), reports it, and returns its manifest record.
    func seal(_ s: ClosedSegment, at time: (mono: Nanos, utc: Int64)) -> SegmentRecord {
        let digest = FileBytes.sha256(s.path, buffer: hashBuffer) ?? ""
        let name = String(s.path[s.path.index(after: s.path.lastIndex(of: "/")!)...])
        let duration = Double(s.frames + s.placeholders) / Double(fps)
        events.emit(Event("segment", mono: time.mono, utc: time.utc, [
            ("recording", .string(s.recordingID)), ("index", .int(Int64(s.index))), ("path", .string(s.path)),
            ("frames", .int(Int64(s.frames))), ("missing_frames", .int(Int64(s.placeholders))), ("bytes", .int(Int64(s.bytes))),
            ("first_seq", .int(Int64(s.firstSeq))), ("last_seq", .int(Int64(s.lastSeq))),
            ("start_utc", .string(UTC.iso(s.firstUTC))), ("duration_s", .double(duration)),
            ("sha256", .string(digest)),
        ]))
        return SegmentRecord(index: s.index, file: name, frames: s.frames, missingFrames: s.placeholders, bytes: s.bytes,
                             firstSeq: s.firstSeq, lastSeq: s.lastSeq, firstUTC: s.firstUTC, lastUTC: s.lastUTC, sha256: digest)
    }

    /// Signs and writes the recording's manifest and notes it in the audit trail. Its times come from its
    /// segments (a recording with none spans its start only).
    func seal(recording info: RecordingInfo, segments: [SegmentRecord], lostFrames: UInt64, sourceSkipped: UInt64, complete: Bool,
              at time: (mono: Nanos, utc: Int64)) {
        guard let evidence else { return }
        let manifest = RecordingManifest(
            deviceID: evidence.identity.deviceID, recordingID: info.id, trigger: info.trigger, officer: info.officer,
            startUTC: segments.first?.firstUTC ?? info.startUTC, endUTC: segments.last?.lastUTC ?? info.startUTC,
            prerecordSeconds: Double(info.prerecordMilliseconds) / 1000, markers: info.markers, segments: segments,
            droppedFrames: info.droppedFrames, lostFrames: lostFrames, complete: complete, recovered: false,
            sourceSkippedFrames: sourceSkipped)
        do {
            let digest = try manifest.write(to: directory, identity: evidence.identity)
            evidence.audit.append("recording-finalized", mono: time.mono, utc: time.utc, [
                ("recording", .string(info.id)), ("segments", .int(Int64(segments.count))),
                ("frames", .int(Int64(manifest.frames))), ("complete", .bool(manifest.complete)),
                ("manifest_sha256", .string(digest)),
            ])
            events.emit(Event("manifest", mono: time.mono, utc: time.utc, [
                ("recording", .string(info.id)), ("path", .string(directory + "/" + RecordingManifest.jsonName(info.id))),
                ("sha256", .string(digest)),
            ]))
        } catch {
            events.emit(.writerError(recording: info.id, error, message: "manifest: \(error)", at: time))
        }
    }
}
