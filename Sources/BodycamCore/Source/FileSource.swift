import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif
import CHAL

/// Replays a file through the normal frame path, paced by the camera clock (as fast as possible on the
/// virtual clock): raw YUYV or I420 frames of a given size back to back, or MJPEG (concatenated JPEGs).
/// The file is mapped, and frames are handed over in place, like a camera's mmapped buffers. The mapping
/// is private and writable, so the frame path can burn its stamp into a frame without touching the file;
/// the pages a frame dirtied are dropped when it is released (memory stays flat over a long replay).
public final class FileSource: FrameSource {
    public let geometry: FrameGeometry
    public let frameInterval: Nanos
    public let path: String
    private let fps: Int
    private let clock: CameraClock
    private let base: UnsafeRawPointer
    private let size: Int
    private var offset = 0
    private var index: UInt64 = 0
    private var startMono: Nanos = 0
    private var frameEnd: Int?
    /// The frame handed out, until it is released.
    /// Frames out, in the order they were handed out (a fixed ring): their byte ranges, and whether each is
    /// back. Pages are given back to the file only below the oldest frame still out.
    private var out: [(range: Range<Int>, back: Bool)]
    private var outFirst = 0, outCount = 0
    /// Pages before this offset have been given back.
    private var reclaimed = 0
    public static let maxFramesOut = 16
    public var framesOutLimit: Int { Self.maxFramesOut }
    public var framesAreWritable: Bool { geometry.format != .mjpeg }

    public init(path: String, format: PixelFormat, width: Int, height: Int, fps: Int, clock: CameraClock) throws(FrameSourceError) {
        self.path = path
        geometry = FrameGeometry(width: width, height: height, format: format)
        self.fps = fps
        frameInterval = Nanos.perSecond / Nanos(fps)
        self.clock = clock
        out = Array(repeating: (0..<0, true), count: Self.maxFramesOut)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unusable("\(path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        size = Int(st.st_size)
        guard size > 0, let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw .unusable("\(path): empty or cannot be mapped")
        }
        madvise(p, size, MADV_SEQUENTIAL)
        base = UnsafeRawPointer(p)
        if format != .mjpeg && size < geometry.rawFrameBytes {
            throw .unusable("\(path): smaller than one \(width)x\(height) \(format.rawValue) frame")
        }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    public var nextFrameDue: Nanos? {
        guard nextFrameRange() != nil else { return nil }
        return startMono + Nanos(index) * Nanos.perSecond / Nanos(fps)
    }

    public func start() throws(FrameSourceError) { startMono = clock.now - Nanos(index) * Nanos.perSecond / Nanos(fps) }

    public func nextFrame() throws(FrameSourceError) -> CapturedFrame? {
        guard let due = nextFrameDue, let range = nextFrameRange() else { return nil }
        clock.sleep(until: due)
        offset = range.upperBound
        frameEnd = nil
        defer { index += 1 }
        precondition(outCount < Self.maxFramesOut, "more file frames taken than framesOutLimit")
        let slot = (outFirst + outCount) % Self.maxFramesOut
        out[slot] = (range, false)
        outCount += 1
        return CapturedFrame(bytes: UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count),
                             mono: due, sequence: index, buffer: slot)
    }

    public func releaseFrame(_ frame: CapturedFrame) {
        guard frame.buffer < Self.maxFramesOut, !out[frame.buffer].back else { return }
        out[frame.buffer].back = true
        while outCount > 0 && out[outFirst].back {
            outFirst = (outFirst + 1) % Self.maxFramesOut
            outCount -= 1
        }
        guard geometry.format != .mjpeg else { return } // never written to: nothing to give back
        // Back to the file's own pages: the private copies the stamp made are freed. Whole pages below the
        // oldest frame still out (or below the next frame when none is): a page shared with a frame still
        // out, or not yet taken, waits.
        let page = Int(getpagesize())
        let end = (outCount > 0 ? out[outFirst].range.lowerBound : offset) / page * page
        guard end > reclaimed else { return }
        madvise(UnsafeMutableRawPointer(mutating: base) + reclaimed, end - reclaimed, MADV_DONTNEED)
        reclaimed = end
    }
    public func stop() {}

    /// Where the next frame is in the file, if there is one.
    private func nextFrameRange() -> Range<Int>? {
        if geometry.format != .mjpeg {
            let n = geometry.rawFrameBytes
            return offset + n <= size ? offset..<(offset + n) : nil
        }
        if let end = frameEnd { return offset..<end }
        // A JPEG runs from SOI to its EOI.
        guard let soi = findMarker(JPEGMarkers.soi, from: offset) else { return nil }
        offset = soi
        guard let eoi = findMarker(JPEGMarkers.eoi, from: soi + 2) else { return nil }
        frameEnd = eoi + 2
        return offset..<(eoi + 2)
    }

    /// The offset of the next 0xFF `marker` pair at or after `from`.
    private func findMarker(_ marker: UInt8, from: Int) -> Int? {
        guard from < size else { return nil }
        let at = from + hal_jpeg_find_marker(base.assumingMemoryBound(to: UInt8.self) + from, size - from, marker)
        return at < size ? at : nil
    }
}
