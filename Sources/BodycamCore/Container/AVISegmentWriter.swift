import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Writes one AVI segment at a time, reusing the same preallocated header, index and I/O vectors for
/// every segment, so appending a frame does no heap allocation: one `writev` of chunk header, frame
/// bytes (straight from the ring's arena) and padding.
///
/// A segment is written as `NAME.avi.part`; `close` writes the index, rewrites the header counts, fsyncs,
/// and renames it to `NAME.avi`, so a `.avi` file is always complete.
public final class AVISegmentWriter {
    public let width: Int, height: Int, fps: Int
    /// Most index entries (frames and placeholders) one segment can hold (the segment rotates before this).
    public let frameCapacity: Int

    /// JPEG frames in the open segment.
    public private(set) var frames = 0
    /// Empty '00dc' chunks standing for frames that never came (AVI's dropped-frame convention: players
    /// hold the last picture, so the segment plays for as long as it was recorded).
    public private(set) var placeholders = 0
    /// Index entries: frames and placeholders, one per frame interval of the segment's timeline.
    public var entries: Int { frames + placeholders }
    public private(set) var moviBytes = 0
    public private(set) var largestFrame = 0
    public var isOpen: Bool { file != nil }
    /// Bytes the file will have once closed, including the index.
    public var projectedFileBytes: Int { AVILayout.fileBytes(moviBytes: moviBytes, frames: entries) }

    private var file: PosixFile?
    private var finalPath = ""
    private var directory = ""
    private let header: UnsafeMutableRawBufferPointer
    private let index: UnsafeMutableRawBufferPointer
    private let iov: UnsafeMutableBufferPointer<iovec>
    private let chunkHeader: UnsafeMutableRawBufferPointer
    private let pad: UnsafeMutableRawBufferPointer
    /// `placeholderBlock` empty chunk headers ('00dc', size 0), ready to write.
    private let emptyChunks: UnsafeMutableRawBufferPointer

    public init(width: Int, height: Int, fps: Int, frameCapacity: Int) {
        self.width = width
        self.height = height
        self.fps = fps
        self.frameCapacity = frameCapacity
        header = .allocate(byteCount: AVILayout.headerBytes, alignment: 16)
        index = .allocate(byteCount: 8 + frameCapacity * AVILayout.indexEntryBytes, alignment: 16)
        index.initializeMemory(as: UInt8.self, repeating: 0) // resident from the start, like the ring
        iov = .allocate(capacity: 3)
        chunkHeader = .allocate(byteCount: 8, alignment: 8)
        pad = .allocate(byteCount: 1, alignment: 1)
        emptyChunks = .allocate(byteCount: Self.placeholderBlock * 8, alignment: 8)
        for i in 0..<Self.placeholderBlock {
            var e = LittleEndianWriter(UnsafeMutableRawBufferPointer(rebasing: emptyChunks[(i * 8)..<(i * 8 + 8)]))
            e.fourCC(AVILayout.frameChunkID); e.u32(0)
        }
        pad[0] = 0
        var w = LittleEndianWriter(chunkHeader)
        w.fourCC(AVILayout.frameChunkID)
    }

    deinit {
        file?.close()
        header.deallocate()
        index.deallocate()
        iov.deallocate()
        chunkHeader.deallocate()
        pad.deallocate()
        emptyChunks.deallocate()
    }

    /// Starts a segment that will be named `path` (which must end in `.avi`) once closed.
    public func open(path: String, directory: String) throws(IOError) {
        precondition(file == nil, "open while a segment is open")
        frames = 0
        placeholders = 0
        moviBytes = 0
        largestFrame = 0
        let f = try PosixFile.createNew(path + EvidenceNames.unfinishedSuffix)
        file = f
        finalPath = path
        self.directory = directory
        AVILayout.writeHeader(currentHeader(hasIndex: false), into: header)
        do {
            try f.write(UnsafeRawBufferPointer(header))
            // The new file's name must survive a power cut too, or its synced frames cannot be found.
            try f.sync()
            try PosixFile.syncDirectory(directory)
        } catch {
            abandon()
            throw error
        }
    }

    /// Makes the frames written so far durable (fdatasync): recovery keeps every one of them.
    public func sync() throws(IOError) {
        guard let f = file else { return }
        guard retrying({ fdatasync(f.fd) }) == 0 else { throw IOError(operation: "fdatasync", path: f.path, errno: errno) }
    }

    /// Whether a frame of `length` bytes still fits under `maxFileBytes` and the index capacity.
    public func canAppend(_ length: Int, maxFileBytes: Int) -> Bool {
        entries < frameCapacity
            && AVILayout.fileBytes(moviBytes: moviBytes + AVILayout.chunkBytes(length), frames: entries + 1) <= maxFileBytes
    }

    /// How many placeholders fit before a frame of `length` bytes (up to `wanted`), within the index and
    /// `maxFileBytes`.
    public func placeholderRoom(_ wanted: Int, before length: Int, maxFileBytes: Int) -> Int {
        guard wanted > 0 else { return 0 }
        let byIndex = frameCapacity - entries - 1
        let spare = maxFileBytes - AVILayout.fileBytes(moviBytes: moviBytes + AVILayout.chunkBytes(length), frames: entries + 1)
        let bySize = spare / (AVILayout.chunkBytes(0) + AVILayout.indexEntryBytes)
        return max(0, min(wanted, byIndex, bySize))
    }

    /// Appends `count` empty '00dc' chunks: frames missing from the timeline (the source skipped them, they
    /// were damaged, or there was no room for them). Written from a preallocated block, in one call per
    /// block, so a long gap costs few system calls and no allocation.
    public func appendPlaceholders(_ count: Int) throws(IOError) {
        guard let f = file, count > 0 else { return }
        precondition(entries + count <= frameCapacity, "segment index is full: rotate first")
        var left = count
        while left > 0 {
            let n = min(left, Self.placeholderBlock)
            do {
                try f.write(UnsafeRawBufferPointer(rebasing: emptyChunks[0..<(n * 8)]))
            } catch {
                try f.truncate(to: AVILayout.headerBytes + moviBytes)
                throw error
            }
            for _ in 0..<n {
                let entry = index.baseAddress! + 8 + entries * AVILayout.indexEntryBytes
                entry.copyMemory(from: chunkHeader.baseAddress!, byteCount: 4)
                entry.storeBytes(of: UInt32(0).littleEndian, toByteOffset: 4, as: UInt32.self) // not a key frame: no picture
                entry.storeBytes(of: UInt32(4 + moviBytes).littleEndian, toByteOffset: 8, as: UInt32.self)
                entry.storeBytes(of: UInt32(0).littleEndian, toByteOffset: 12, as: UInt32.self)
                placeholders += 1
                moviBytes += AVILayout.chunkBytes(0)
            }
            left -= n
        }
    }

    static let placeholderBlock = 256

    /// Appends one JPEG frame as a '00dc' chunk and notes it in the index.
    public func append(_ jpeg: UnsafeRawBufferPointer) throws(IOError) {
        guard let f = file else { preconditionFailure("append without an open segment") }
        precondition(entries < frameCapacity, "segment index is full: rotate first")
        let length = jpeg.count
        chunkHeader.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 4, as: UInt32.self)
        iov[0] = iovec(iov_base: chunkHeader.baseAddress, iov_len: 8)
        iov[1] = iovec(iov_base: UnsafeMutableRawPointer(mutating: jpeg.baseAddress), iov_len: length)
        iov[2] = iovec(iov_base: pad.baseAddress, iov_len: 1)
        do {
            try f.writev(iov, count: length & 1 == 1 ? 3 : 2)
        } catch {
            // A partial chunk (the disk filled mid-frame) would corrupt the file: cut it off, so the
            // segment can still be closed with every whole frame before it.
            try f.truncate(to: AVILayout.headerBytes + moviBytes)
            throw error
        }
        let entry = index.baseAddress! + 8 + entries * AVILayout.indexEntryBytes
        entry.copyMemory(from: chunkHeader.baseAddress!, byteCount: 4)
        entry.storeBytes(of: AVILayout.keyFrameFlag.littleEndian, toByteOffset: 4, as: UInt32.self)
        entry.storeBytes(of: UInt32(4 + moviBytes).littleEndian, toByteOffset: 8, as: UInt32.self)
        entry.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 12, as: UInt32.self)
        frames += 1
        moviBytes += AVILayout.chunkBytes(length)
        largestFrame = max(largestFrame, length)
    }

    /// Writes the index and final header, makes the file durable and gives it its final name.
    /// Returns the final path and size.
    public func close() throws(IOError) -> (path: String, bytes: Int) {
        guard let f = file else { preconditionFailure("close without an open segment") }
        do {
            var w = LittleEndianWriter(index)
            w.fourCC("idx1"); w.u32(entries * AVILayout.indexEntryBytes)
            try f.write(UnsafeRawBufferPointer(rebasing: index[0..<(8 + entries * AVILayout.indexEntryBytes)]))
            AVILayout.writeHeader(currentHeader(hasIndex: true), into: header)
            try f.pwrite(UnsafeRawBufferPointer(header), at: 0)
            try f.sync()
            f.close()
            file = nil
            try PosixFile.renameDurably(from: finalPath + EvidenceNames.unfinishedSuffix, to: finalPath, directory: directory)
        } catch {
            abandon()
            throw error
        }
        return (finalPath, projectedFileBytes)
    }

    /// Closes the file without finishing it (after an I/O error). The `.part` file stays for recovery.
    public func abandon() {
        file?.close()
        file = nil
    }

    private func currentHeader(hasIndex: Bool) -> AVILayout.Header {
        AVILayout.Header(width: width, height: height, fps: fps, frames: entries, largestFrame: largestFrame,
                         moviBytes: moviBytes, hasIndex: hasIndex)
    }
}
