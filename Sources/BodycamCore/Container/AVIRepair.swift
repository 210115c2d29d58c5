import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Finishes an unfinished segment file (`NAME.avi.part`) after a crash or power cut. The one place that
/// decides what of such a file is kept; recovery renames and reports.
///
/// - A file that is already complete (the cut came after the final header and index were written, before
///   the rename) is recognised, fsynced and otherwise left untouched.
/// - Otherwise every whole frame chunk that reached the disk is kept: a '00dc' chunk inside the file whose
///   JPEG starts with SOI and ends with EOI, or a zero-length placeholder (a dropped frame). The first
///   chunk that is not whole, and everything after it, is cut off; idx1 and the final header
///   (`AVILayout.writeHeader`) are written and the file is fsynced.
/// - A header whose geometry or rate cannot be read, or is out of range, is a typed failure: the file is
///   not touched, so it can be kept aside.
///
/// Total on any file contents: sizes are range-checked before arithmetic, reads are bounded by the file's
/// size, and memory is a fixed 64 KiB window however many frames the file holds.
public enum AVIRepair {
    public enum Outcome: Equatable, Sendable {
        /// Header, chunks and index already agree; nothing written (only fsynced). `frames` counts JPEG
        /// frames.
        case complete(frames: Int)
        /// Whole chunks kept, the rest cut off, index and header written, fsynced.
        case rebuilt(frames: Int)
        /// No whole JPEG frame (at most a header and placeholders): nothing written.
        case empty
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// Cannot be opened or read as a regular file of at most `maxFileBytes`.
        case unreadable(path: String, reason: String)
        /// Geometry or rate unreadable or out of range: the file is left as it is.
        case damagedHeader(path: String, reason: String)
        /// Writing the repair failed (truncate, index, header or fsync).
        case io(IOError)
        public var description: String {
            switch self {
            case .unreadable(let path, let reason): return "\(path): unreadable: \(reason)"
            case .damagedHeader(let path, let reason): return "\(path): damaged header: \(reason)"
            case .io(let e): return "\(e)"
            }
        }
    }

    /// A segment never exceeds the AVI 1.0 limit, index included (the writer rotates before it).
    public static let maxFileBytes = AVILayout.maxSegmentBytesLimit
    /// Geometry and rate a header may state: the camera's own limits (CameraSettings), widened to any size
    /// a V4L2 camera could negotiate.
    public static let sizeRange = 1...8192
    public static let fpsRange = 1...1000

    public static func finish(path: String) throws(Failure) -> Outcome {
        let f: PosixFile
        do { f = try PosixFile.openExisting(path, writable: true) } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        defer { f.close() }
        let repair = try Repair(file: f)
        return try repair.run()
    }

    /// One repair: the file, its size and a fixed read/write window.
    final class Repair {
        let f: PosixFile
        let size: Int
        let window: UnsafeMutableRawBufferPointer
        static let windowBytes = 1 << 16

        init(file: PosixFile) throws(Failure) {
            f = file
            do { size = try file.size() } catch { throw .unreadable(path: file.path, reason: "\(error)") }
            guard size <= AVIRepair.maxFileBytes else {
                throw .unreadable(path: file.path, reason: "\(size) bytes, more than the 1 GiB a segment may have")
            }
            window = .allocate(byteCount: Self.windowBytes, alignment: 16)
        }

        deinit { window.deallocate() }

        func run() throws(Failure) -> Outcome {
            // Shorter than the header written (and fsynced) at open: no frame can be there.
            guard size >= AVILayout.headerBytes else { return .empty }
            let header = try readHeader()
            if let frames = try completeFrames(header) {
                // After a crash (not a power cut) the complete file may still be only in the page cache.
                do throws(IOError) { try f.sync() } catch { throw .io(error) }
                return .complete(frames: frames)
            }
            let kept = try scanWholeChunks()
            guard kept.jpegFrames > 0 else { return .empty }
            try rewrite(header: header, kept: kept)
            return .rebuilt(frames: kept.jpegFrames)
        }

        /// Reads `count` bytes at `offset` into the window; false if the file ends first.
        func read(_ count: Int, at offset: Int) throws(Failure) -> Bool {
            precondition(count <= window.count)
            guard offset >= 0, offset <= size, count <= size - offset else { return false }
            do {
                return try f.pread(into: UnsafeMutableRawBufferPointer(rebasing: window[0..<count]), at: offset) == count
            } catch { throw .unreadable(path: f.path, reason: "\(error)") }
        }

        func u32(_ at: Int) -> Int {
            Int(window[at]) | Int(window[at + 1]) << 8 | Int(window[at + 2]) << 16 | Int(window[at + 3]) << 24
        }
        func isFrameChunkID(_ at: Int) -> Bool {
            window[at] == 0x30 && window[at + 1] == 0x30 && window[at + 2] == 0x64 && window[at + 3] == 0x63 // "00dc"
        }

        func readHeader() throws(Failure) -> AVIReader {
            guard try read(AVILayout.headerBytes, at: 0) else { throw .unreadable(path: f.path, reason: "short read") }
            let bytes = Array(UnsafeRawBufferPointer(rebasing: window[0..<AVILayout.headerBytes]))
            let h: AVIReader
            do { h = try AVIReader(header: bytes) } catch { throw .damagedHeader(path: f.path, reason: "\(error)") }
            guard h.moviListOffset == AVILayout.headerBytes - 12 else {
                throw .damagedHeader(path: f.path, reason: "movi list at \(h.moviListOffset), not \(AVILayout.headerBytes - 12)")
            }
            guard AVIRepair.sizeRange.contains(h.width), AVIRepair.sizeRange.contains(h.height) else {
                throw .damagedHeader(path: f.path, reason: "frame size \(h.width)x\(h.height) out of range")
            }
            guard AVIRepair.fpsRange.contains(h.fps) else {
                throw .damagedHeader(path: f.path, reason: "frame rate \(h.fps) out of range")
            }
            return h
        }

        /// The number of JPEG frames if the file is exactly what `AVISegmentWriter.close` leaves: header
        /// with the index flag and counts, every chunk whole and named by its idx1 entry, nothing after.
        func completeFrames(_ h: AVIReader) throws(Failure) -> Int? {
            let n = h.headerFrames, moviBytes = h.moviListSize - 4
            guard h.avihFlags & Int(AVILayout.hasIndexFlag) != 0, h.streamLength == n, moviBytes >= 0,
                  n <= size / AVILayout.indexEntryBytes, // range check before the size arithmetic below
                  AVILayout.fileBytes(moviBytes: moviBytes, frames: n) == size, h.riffSize == size - 8 else { return nil }
            let indexStart = AVILayout.headerBytes + moviBytes
            guard try read(8, at: indexStart), window[0] == 0x69, window[1] == 0x64, window[2] == 0x78, window[3] == 0x31,
                  u32(4) == n * AVILayout.indexEntryBytes else { return nil } // "idx1"
            var pos = AVILayout.headerBytes, jpegFrames = 0
            for i in 0..<n {
                // The index entry, then the chunk it names.
                guard try read(AVILayout.indexEntryBytes, at: indexStart + 8 + i * AVILayout.indexEntryBytes),
                      isFrameChunkID(0), u32(8) == pos - AVILayout.moviFourCCOffset else { return nil }
                let length = u32(12)
                guard let chunk = try wholeChunk(at: pos, limit: indexStart), chunk.length == length else { return nil }
                if length > 0 { jpegFrames += 1 }
                pos = chunk.end
            }
            return pos == indexStart ? jpegFrames : nil
        }

        /// Where the chunk at `pos` ends (padding included) and its data length, if it is a whole frame
        /// chunk inside `limit`.
        func wholeChunk(at pos: Int, limit: Int) throws(Failure) -> (end: Int, length: Int)? {
            guard pos <= limit - 8, try read(8, at: pos), isFrameChunkID(0) else { return nil }
            let length = u32(4)
            guard length <= limit - pos - 8 - (length & 1) else { return nil } // data and padding inside
            if length > 0 {
                guard length >= 4, try read(2, at: pos + 8), window[0] == 0xFF, window[1] == JPEGMarkers.soi,
                      try read(2, at: pos + 8 + length - 2), window[0] == 0xFF, window[1] == JPEGMarkers.eoi else { return nil }
            }
            return (pos + AVILayout.chunkBytes(length), length)
        }

        struct Kept { var end: Int; var chunks: Int; var jpegFrames: Int; var largest: Int }

        /// Whole chunks from the start of 'movi', up to the first that is not whole (or would take the
        /// closed file past the AVI limit).
        func scanWholeChunks() throws(Failure) -> Kept {
            var kept = Kept(end: AVILayout.headerBytes, chunks: 0, jpegFrames: 0, largest: 0)
            while let chunk = try wholeChunk(at: kept.end, limit: size) {
                guard AVILayout.fileBytes(moviBytes: chunk.end - AVILayout.headerBytes, frames: kept.chunks + 1)
                        <= AVIRepair.maxFileBytes else { break }
                kept.chunks += 1
                if chunk.length > 0 { kept.jpegFrames += 1 }
                kept.largest = max(kept.largest, chunk.length)
                kept.end = chunk.end
            }
            return kept
        }

        /// Cuts the file after the kept chunks, writes idx1 (in window-sized blocks) and the final header,
        /// and fsyncs.
        func rewrite(header h: AVIReader, kept: Kept) throws(Failure) {
            do throws(IOError) {
                try f.truncate(to: kept.end)
                var out = kept.end, pos = AVILayout.headerBytes, filled = 0
                func flush() throws(IOError) {
                    try f.pwrite(UnsafeRawBufferPointer(rebasing: window[0..<filled]), at: out)
                    out += filled
                    filled = 0
                }
                var w = LittleEndianWriter(UnsafeMutableRawBufferPointer(rebasing: window[0..<8]))
                w.fourCC("idx1"); w.u32(kept.chunks * AVILayout.indexEntryBytes)
                filled = 8
                for _ in 0..<kept.chunks {
                    // Re-read each kept chunk's header (scanned whole above) after the pending entries.
                    if filled + AVILayout.indexEntryBytes + 8 > window.count { try flush() }
                    let scratch = window.count - 8
                    guard try f.pread(into: UnsafeMutableRawBufferPointer(rebasing: window[scratch..<window.count]), at: pos) == 8
                    else { throw IOError(operation: "read", path: f.path, errno: EIO) }
                    let length = u32(scratch + 4)
                    var e = LittleEndianWriter(UnsafeMutableRawBufferPointer(rebasing: window[filled..<(filled + 16)]))
                    e.fourCC(AVILayout.frameChunkID); e.u32(Int(AVILayout.keyFrameFlag))
                    e.u32(pos - AVILayout.moviFourCCOffset); e.u32(length)
                    filled += AVILayout.indexEntryBytes
                    pos += AVILayout.chunkBytes(length)
                }
                try flush()
                AVILayout.writeHeader(AVILayout.Header(width: h.width, height: h.height, fps: h.fps, frames: kept.chunks,
                                                       largestFrame: kept.largest, moviBytes: kept.end - AVILayout.headerBytes,
                                                       hasIndex: true),
                                      into: UnsafeMutableRawBufferPointer(rebasing: window[0..<AVILayout.headerBytes]))
                try f.pwrite(UnsafeRawBufferPointer(rebasing: window[0..<AVILayout.headerBytes]), at: 0)
                try f.sync()
            } catch {
                throw .io(error)
            }
        }
    }
}
