import Foundation
import BodycamEvidence

/// Brings a device's recordings folder back to a consistent state after a crash or power cut, and makes
/// sure nothing on it can stop the camera booting:
/// - every unfinished segment (`.avi.part`) that is already complete (the cut came between its last
///   write and its rename) is renamed; any other keeps each whole frame that reached the disk, gets its
///   index and header rebuilt, and becomes an `.avi`; one with no whole frame is removed (logged);
/// - every manifest that the audit trail never logged (the cut came between the two) is logged;
/// - every recording with segments but no manifest gets one, marked `"recovered": true`, signed, with
///   its trigger, pre-record and markers from the audit trail, and the manifest hash the trail logged
///   for it if it logged one (then the original manifest was removed, and `verify` says so);
/// - anything it cannot use (a damaged header, a file this camera does not write, a link, a manifest
///   that does not verify with the device key) is moved to quarantine, never deleted;
/// - each repair is written to the audit trail.
public struct Recovery {
    public struct Result: Equatable, Sendable {
        public var segmentsRebuilt: [String] = []
        public var emptySegmentsRemoved: [String] = []
        public var manifestsWritten: [String] = []
        public var manifestsLogged: [String] = []
        /// (what, why): moved to the quarantine folder.
        public var quarantined: [Quarantined] = []
        public var framesRecovered = 0
        /// The latest time any kept manifest (verified, or written here) says was recorded.
        public var latestRecordedUTC: Int64?
        public var isEmpty: Bool {
            segmentsRebuilt.isEmpty && emptySegmentsRemoved.isEmpty && manifestsWritten.isEmpty && manifestsLogged.isEmpty
                && quarantined.isEmpty
        }
    }

    public struct Quarantined: Equatable, Sendable {
        public var file: String
        public var movedTo: String
        public var reason: String
    }

    public enum Failure: Error, CustomStringConvertible {
        case io(String)
        public var description: String { switch self { case .io(let s): return s } }
    }

    /// Repairs `directory` (a device's recordings folder), signing with `identity`. Throws only when the
    /// storage itself fails (cannot rename, cannot write).
    public static func run(directory: String, identity: DeviceIdentity, audit: AuditLog, quarantine: Quarantine,
                           mono: Nanos, utc: Int64) throws -> Result {
        var result = Result()
        func log(_ fields: [(String, JSON)]) { audit.append("recovery", mono: mono, utc: utc, fields) }
        func isolate(_ name: String, _ reason: String) throws {
            let movedTo = try quarantine.take(directory + "/" + name, utc: utc)
            result.quarantined.append(Quarantined(file: name, movedTo: movedTo, reason: reason))
            log([("action", .string("quarantined")), ("file", .string(name)), ("quarantine", .string(movedTo)),
                 ("reason", .string(reason))])
        }

        // 1. Names: only regular files this camera writes stay; unfinished segments are finished.
        for name in PosixFile.list(directory).sorted() {
            let path = directory + "/" + name
            guard PosixFile.kind(path) == .regular else {
                try isolate(name, "not a regular file (a link, folder or device)")
                continue
            }
            switch EvidenceNames.kind(of: name) {
            case .segment, .manifest, .signature, .spaceReserve:
                continue
            case .unknown:
                try isolate(name, "not a file this camera writes")
            case .unfinishedSegment(let segment):
                let final = segment.fileName
                if PosixFile.exists(directory + "/" + final) {
                    try isolate(name, "a finished segment of that name exists")
                    continue
                }
                let outcome: AVIRepair.Outcome
                do { outcome = try AVIRepair.finish(path: path) } catch {
                    if case .io(let e) = error { throw e } // the storage failing is not the file's fault
                    try isolate(name, "\(error)")
                    continue
                }
                switch outcome {
                case .empty:
                    // Only a header, or a frame cut off before its end: no footage to keep.
                    unlink(path)
                    result.emptySegmentsRemoved.append(name)
                    log([("action", .string("empty-segment-removed")), ("file", .string(name))])
                case .complete(let frames), .rebuilt(let frames):
                    try PosixFile.renameDurably(from: path, to: directory + "/" + final, directory: directory)
                    result.segmentsRebuilt.append(final)
                    result.framesRecovered += frames
                    let complete = if case .complete = outcome { true } else { false }
                    log([("action", .string(complete ? "segment-completed" : "segment-rebuilt")), ("file", .string(final)),
                         ("frames", .int(Int64(frames)))])
                }
            }
        }

        // 2. Manifests: each must verify with the device's own key; one the trail never logged is logged now.
        var segmentsByRecording: [EvidenceNames.RecordingID: [EvidenceNames.Segment]] = [:]
        var manifests = Set<EvidenceNames.RecordingID>()
        for name in PosixFile.list(directory) {
            switch EvidenceNames.kind(of: name) {
            case .segment(let s): segmentsByRecording[s.recording, default: []].append(s)
            case .manifest(let id): manifests.insert(id)
            default: break
            }
        }
        for id in manifests.sorted() {
            do {
                let signed = try SignedManifest.read(directory: directory, id: id)
                guard signed.isSigned(by: identity.publicKey) else { throw EvidenceError("signature does not match the device key") }
                result.latestRecordedUTC = max(result.latestRecordedUTC ?? .min, signed.manifest.endUTC)
                if audit.facts[id.text]?.loggedManifestSHA256 == nil {
                    result.manifestsLogged.append(EvidenceNames.manifestName(id))
                    log([("action", .string("manifest-logged")), ("recording", .string(id.text)),
                         ("manifest_sha256", .string(signed.sha256))])
                }
            } catch {
                manifests.remove(id)
                try isolate(EvidenceNames.manifestName(id), "\(error)")
                if PosixFile.exists(directory + "/" + EvidenceNames.signatureName(id)) {
                    try isolate(EvidenceNames.signatureName(id), "its manifest did not verify")
                }
            }
        }

        // 3. Recordings whose manifest was never written (or was removed).
        let facts = audit.facts
        for (id, segments) in segmentsByRecording.sorted(by: { $0.key < $1.key }) where !manifests.contains(id) {
            // Only a recording this camera logged as started is its own to vouch for: a segment planted
            // under another id is set aside, never signed.
            guard id.deviceID == identity.deviceID, facts[id.text]?.started == true else {
                for segment in segments { try isolate(segment.fileName, "no start of \(id.text) in this camera's audit trail") }
                continue
            }
            var records: [SegmentRecord] = []
            for segment in segments.sorted(by: { $0.index < $1.index }) {
                let path = directory + "/" + segment.fileName
                guard let avi = try? AVIReader.read(path: path), !avi.frames.isEmpty,
                      let first = avi.stamp(0), let last = avi.stamp(avi.frames.count - 1),
                      first.deviceID == identity.deviceID, last.deviceID == identity.deviceID else {
                    try isolate(segment.fileName, "not a readable segment (no stamped frames)")
                    continue
                }
                records.append(SegmentRecord(index: segment.index, file: segment.fileName, frames: avi.frames.count,
                                             missingFrames: avi.emptyChunks.count,
                                             bytes: avi.bytes.count, firstSeq: first.sequence, lastSeq: last.sequence,
                                             firstUTC: first.utc, lastUTC: last.utc, sha256: Hex.sha256(avi.bytes)))
            }
            guard !records.isEmpty else { continue }
            let logged = facts[id.text]
            // Segments numbered from 1 without gaps, unless one was lost entirely.
            let complete = records.map(\.index) == Array(1...records.count)
            let manifest = RecordingManifest(
                deviceID: identity.deviceID, recordingID: id.text, trigger: logged?.trigger ?? "unknown", officer: logged?.officer,
                startUTC: records.first!.firstUTC, endUTC: records.last!.lastUTC, prerecordSeconds: logged?.prerecordSeconds ?? 0,
                markers: logged?.markers ?? [], segments: records, droppedFrames: 0, lostFrames: 0, complete: complete,
                recovered: true, loggedManifestSHA256: logged?.loggedManifestSHA256)
            let digest = try manifest.write(to: directory, identity: identity)
            result.manifestsWritten.append(EvidenceNames.manifestName(id))
            result.latestRecordedUTC = max(result.latestRecordedUTC ?? .min, manifest.endUTC)
            log([("action", .string("manifest-written")), ("recording", .string(id.text)),
                 ("segments", .int(Int64(manifest.segments.count))), ("frames", .int(Int64(manifest.frames))),
                 ("manifest_sha256", .string(digest))])
        }
        // 4. Recordings the trail says started, of which nothing reached the disk: an empty recovered manifest,
        //    so that the trail and the recordings agree and the gap is on record.
        let present = Set(PosixFile.list(directory).compactMap { name -> String? in
            switch EvidenceNames.kind(of: name) {
            case .segment(let s): return s.recording.text
            case .manifest(let id): return id.text
            default: return nil
            }
        })
        for (id, f) in audit.facts.sorted(by: { $0.key < $1.key })
        where f.started && f.loggedManifestSHA256 == nil && !f.offloaded && !present.contains(id) {
            guard let rid = EvidenceNames.RecordingID.parse(id), rid.deviceID == identity.deviceID else { continue }
            let manifest = RecordingManifest(
                deviceID: identity.deviceID, recordingID: id, trigger: f.trigger ?? "unknown", officer: f.officer, startUTC: utc, endUTC: utc,
                prerecordSeconds: f.prerecordSeconds ?? 0, markers: f.markers, segments: [], droppedFrames: 0, lostFrames: 0,
                complete: false, recovered: true)
            let digest = try manifest.write(to: directory, identity: identity)
            result.manifestsWritten.append(EvidenceNames.manifestName(rid))
            log([("action", .string("manifest-written")), ("recording", .string(id)), ("segments", .int(0)), ("frames", .int(0)),
                 ("reason", .string("no frame of it reached the disk")), ("manifest_sha256", .string(digest))])
        }
        return result
    }
}
