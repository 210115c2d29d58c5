import Foundation

/// Brings a recordings folder back to a consistent state after a crash or power cut:
/// - every unfinished segment (`.avi.part`) keeps each whole frame that reached the disk: a cut-off last
///   chunk is removed, the index and header are rebuilt, and it becomes an `.avi`;
/// - every recording with segments but no manifest gets one, marked `"recovered": true`, signed, with
///   its trigger, pre-record and markers taken from the audit trail;
/// - each repair is written to the audit trail.
public struct Recovery {
    public struct Result: Equatable, Sendable {
        public var segmentsRebuilt: [String] = []
        public var emptySegmentsRemoved: [String] = []
        public var manifestsWritten: [String] = []
        public var framesRecovered = 0
        public var isEmpty: Bool { segmentsRebuilt.isEmpty && emptySegmentsRemoved.isEmpty && manifestsWritten.isEmpty }
    }

    public enum Failure: Error, CustomStringConvertible {
        case io(String)
        public var description: String { switch self { case .io(let s): return s } }
    }

    /// Repairs `directory` (a device's recordings folder), signing with `identity`.
    public static func run(directory: String, identity: DeviceIdentity, audit: AuditLog, mono: Nanos, utc: Int64) throws -> Result {
        var result = Result()
        let names = PosixFile.list(directory).sorted()
        for name in names where name.hasSuffix(".avi.part") {
            let path = directory + "/" + name
            let frames = try rebuildSegment(path)
            if frames == 0 {
                // Only a header: no footage to keep.
                unlink(path)
                result.emptySegmentsRemoved.append(name)
                audit.append("recovery", mono: mono, utc: utc, [("action", .string("empty-segment-removed")), ("file", .string(name))])
            } else {
                let final = String(name.dropLast(".part".count))
                try PosixFile.renameDurably(from: path, to: directory + "/" + final, directory: directory)
                result.segmentsRebuilt.append(final)
                result.framesRecovered += frames
                audit.append("recovery", mono: mono, utc: utc, [("action", .string("segment-rebuilt")), ("file", .string(final)),
                                                                ("frames", .int(Int64(frames)))])
            }
        }
        // Recordings whose manifest was never written.
        let all = PosixFile.list(directory)
        var byRecording: [String: [String]] = [:]
        for name in all where name.hasSuffix(".avi") {
            let parts = name.split(separator: "_")
            guard parts.count == 3 else { continue }
            byRecording[String(parts[1]), default: []].append(name)
        }
        let auditEntries = Self.auditEntries(audit.path)
        for (id, segments) in byRecording.sorted(by: { $0.key < $1.key }) where !all.contains(RecordingManifest.jsonName(id)) {
            let manifest = try recoveredManifest(id: id, segments: segments.sorted { segmentIndex($0) < segmentIndex($1) },
                                                 directory: directory, deviceID: identity.deviceID, audit: auditEntries)
            let digest = try manifest.write(to: directory, identity: identity)
            result.manifestsWritten.append(RecordingManifest.jsonName(id))
            audit.append("recovery", mono: mono, utc: utc, [("action", .string("manifest-written")), ("recording", .string(id)),
                                                            ("segments", .int(Int64(manifest.segments.count))),
                                                            ("frames", .int(Int64(manifest.frames))), ("manifest_sha256", .string(digest))])
        }
        if !result.isEmpty { audit.checkpoint(mono: mono, utc: utc) }
        return result
    }

    static func segmentIndex(_ name: String) -> Int {
        Int(name.split(separator: "_").last?.prefix { $0.isNumber } ?? "") ?? 0
    }

    /// Scans the frame chunks after the header, keeps the whole ones, and writes index and header.
    /// Returns the number of frames kept.
    static func rebuildSegment(_ path: String) throws -> Int {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw Failure.io("\(path): cannot open") }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let size = Int(st.st_size)
        guard size >= AVILayout.headerBytes else { return 0 }
        // The header written at open holds the geometry and rate.
        var header = [UInt8](repeating: 0, count: AVILayout.headerBytes)
        guard pread(fd, &header, header.count, 0) == header.count,
              let placeholder = try? AVIReader(bytes: header + Array("idx1".utf8) + [0, 0, 0, 0]) else {
            throw Failure.io("\(path): header unreadable")
        }
        var index: [(offset: Int, length: Int)] = []
        var pos = AVILayout.headerBytes
        var largest = 0
        var chunk = [UInt8](repeating: 0, count: 8)
        while pos + 8 <= size {
            guard pread(fd, &chunk, 8, off_t(pos)) == 8, chunk[0...3] == Array("00dc".utf8)[0...3] else { break }
            let length = Int(chunk[4]) | Int(chunk[5]) << 8 | Int(chunk[6]) << 16 | Int(chunk[7]) << 24
            let end = pos + AVILayout.chunkBytes(length)
            guard end <= size, length > 4 else { break }
            // A frame must be a whole JPEG: it starts with SOI and ends with EOI.
            var ends = [UInt8](repeating: 0, count: 2), starts = [UInt8](repeating: 0, count: 2)
            guard pread(fd, &starts, 2, off_t(pos + 8)) == 2, pread(fd, &ends, 2, off_t(pos + 8 + length - 2)) == 2,
                  starts == [0xFF, 0xD8], ends == [0xFF, 0xD9] else { break }
            index.append((pos - AVILayout.moviFourCCOffset, length))
            largest = max(largest, length)
            pos = end
        }
        guard !index.isEmpty else { return 0 }
        let moviBytes = pos - AVILayout.headerBytes
        guard ftruncate(fd, off_t(pos)) == 0 else { throw Failure.io("\(path): truncate failed") }
        var idx = [UInt8]()
        idx.reserveCapacity(8 + 16 * index.count)
        func u32(_ v: Int) { for i in 0..<4 { idx.append(UInt8((v >> (8 * i)) & 0xFF)) } }
        idx += Array("idx1".utf8); u32(16 * index.count)
        for e in index { idx += Array("00dc".utf8); u32(Int(AVILayout.keyFrameFlag)); u32(e.offset); u32(e.length) }
        let finalHeader = UnsafeMutableRawBufferPointer.allocate(byteCount: AVILayout.headerBytes, alignment: 16)
        defer { finalHeader.deallocate() }
        AVILayout.writeHeader(AVILayout.Header(width: placeholder.width, height: placeholder.height, fps: placeholder.fps,
                                               frames: index.count, largestFrame: largest, moviBytes: moviBytes, hasIndex: true),
                              into: finalHeader)
        guard pwrite(fd, idx, idx.count, off_t(pos)) == idx.count,
              pwrite(fd, finalHeader.baseAddress, AVILayout.headerBytes, 0) == AVILayout.headerBytes,
              fsync(fd) == 0 else { throw Failure.io("\(path): write failed") }
        return index.count
    }

    /// A manifest for a recording that lost its own, from its segments and the audit trail.
    static func recoveredManifest(id: String, segments: [String], directory: String, deviceID: String,
                                  audit: [[String: Any]]) throws -> RecordingManifest {
        var records: [SegmentRecord] = []
        for name in segments {
            let path = directory + "/" + name
            guard let avi = try? AVIReader.read(path: path), !avi.frames.isEmpty,
                  let first = avi.stamp(0), let last = avi.stamp(avi.frames.count - 1),
                  let digest = FileBytes.sha256(path), let size = PosixFile.size(path) else {
                throw Failure.io("\(path): not a readable segment")
            }
            records.append(SegmentRecord(index: segmentIndex(name), file: name, frames: avi.frames.count, bytes: Int(size),
                                         firstSeq: first.sequence, lastSeq: last.sequence, firstUTC: first.utc,
                                         lastUTC: last.utc, sha256: digest))
        }
        let started = audit.first { $0["event"] as? String == "recording-started" && $0["id"] as? String == id }
        let markers: [Marker] = audit.filter { $0["event"] as? String == "marker" && $0["recording"] as? String == id }.map {
            Marker(number: $0["number"] as? Int ?? 0, utc: UTC.parse($0["utc"] as? String ?? "") ?? 0,
                   frameSeq: UInt64($0["frame_seq"] as? Int ?? 0))
        }
        // Segments are numbered from 1 without gaps unless one was lost entirely.
        let complete = records.map(\.index) == Array(1...records.count)
        return RecordingManifest(deviceID: deviceID, recordingID: id, trigger: started?["trigger"] as? String ?? "unknown",
                                 startUTC: records.first?.firstUTC ?? 0, endUTC: records.last?.lastUTC ?? 0,
                                 prerecordSeconds: started?["prerecord_s"] as? Double ?? 0, markers: markers, segments: records,
                                 droppedFrames: 0, lostFrames: 0, complete: complete, recovered: true)
    }

    static func auditEntries(_ path: String) -> [[String: Any]] {
        guard let bytes = FileBytes.read(path) else { return [] }
        return bytes.split(separator: 10).compactMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
    }
}
