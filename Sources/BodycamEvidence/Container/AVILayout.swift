/// The AVI 1.0 (RIFF) layout this camera writes: one MJPEG video stream, every frame a key frame.
///
///     RIFF 'AVI '
///       LIST 'hdrl'  avih(56)  LIST 'strl' strh(56) strf(40)
///       JUNK                   (pads the header to 2048 bytes: room for future header chunks)
///       LIST 'movi'  '00dc' frames ...
///       idx1                   (16 bytes a frame, written when the segment is closed)
///
/// The header has fixed size, so closing a segment only rewrites the counts in place.
public enum AVILayout {
    public static let headerBytes = 2048
    /// File offset of the 'movi' four-character code; idx1 offsets are relative to it.
    public static let moviFourCCOffset = headerBytes - 4
    public static let indexEntryBytes = 16
    public static let keyFrameFlag: UInt32 = 0x10     // AVIIF_KEYFRAME
    public static let hasIndexFlag: UInt32 = 0x10     // AVIF_HASINDEX
    public static let frameChunkID: StaticString = "00dc"
    /// AVI 1.0 readers use 32-bit sizes and many stop at 1 GiB; stay well below.
    public static let maxSegmentBytesLimit = 1 << 30

    public struct Header: Equatable, Sendable {
        public var width: Int
        public var height: Int
        public var fps: Int
        public var frames: Int
        public var largestFrame: Int
        public var moviBytes: Int      // bytes of frame chunks (with their 8-byte headers and padding)
        public var hasIndex: Bool

        public init(width: Int, height: Int, fps: Int, frames: Int, largestFrame: Int, moviBytes: Int, hasIndex: Bool) {
            (self.width, self.height, self.fps, self.frames) = (width, height, fps, frames)
            (self.largestFrame, self.moviBytes, self.hasIndex) = (largestFrame, moviBytes, hasIndex)
        }
    }

    /// Bytes a frame chunk takes in 'movi': header, data, pad to even.
    @inline(__always) public static func chunkBytes(_ frameLength: Int) -> Int { 8 + frameLength + (frameLength & 1) }

    /// Storage one frame of `frameLength` bytes takes in a segment: its chunk and its index entry. The
    /// storage budget counts frames with this as they join a recording.
    @inline(__always) public static func storageBytes(frameLength: Int) -> Int64 {
        Int64(chunkBytes(frameLength) + indexEntryBytes)
    }

    /// Storage a segment takes besides its frames: header, and the index's own chunk header.
    public static let segmentOverheadBytes = headerBytes + 8

    /// Size of the whole file once closed.
    public static func fileBytes(moviBytes: Int, frames: Int) -> Int {
        headerBytes + moviBytes + 8 + frames * indexEntryBytes
    }

    /// Fills `out` (at least `headerBytes`) with the header for `h`.
    public static func writeHeader(_ h: Header, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= headerBytes)
        var w = LittleEndianWriter(out)
        let riffSize = fileBytes(moviBytes: h.moviBytes, frames: h.hasIndex ? h.frames : 0)
            - (h.hasIndex ? 0 : 8) - 8
        w.fourCC("RIFF"); w.u32(riffSize); w.fourCC("AVI ")
        w.fourCC("LIST"); w.u32(4 + 64 + 12 + 64 + 48); w.fourCC("hdrl")
        w.fourCC("avih"); w.u32(56)
        w.u32(1_000_000 / max(h.fps, 1))                        // dwMicroSecPerFrame
        w.u32(min(h.largestFrame * h.fps, Int(UInt32.max)))      // dwMaxBytesPerSec
        w.u32(0)                                                 // dwPaddingGranularity
        w.u32(Int(h.hasIndex ? hasIndexFlag : 0))                // dwFlags
        w.u32(h.frames)                                          // dwTotalFrames
        w.u32(0)                                                 // dwInitialFrames
        w.u32(1)                                                 // dwStreams
        w.u32(h.largestFrame + 8)                                // dwSuggestedBufferSize
        w.u32(h.width); w.u32(h.height)
        for _ in 0..<4 { w.u32(0) }                              // dwReserved
        w.fourCC("LIST"); w.u32(4 + 64 + 48); w.fourCC("strl")
        w.fourCC("strh"); w.u32(56)
        w.fourCC("vids"); w.fourCC("MJPG")
        w.u32(0)                                                 // dwFlags
        w.u16(0); w.u16(0)                                       // wPriority, wLanguage
        w.u32(0)                                                 // dwInitialFrames
        w.u32(1); w.u32(h.fps)                                   // dwScale, dwRate: fps = rate/scale
        w.u32(0)                                                 // dwStart
        w.u32(h.frames)                                          // dwLength
        w.u32(h.largestFrame + 8)                                // dwSuggestedBufferSize
        w.u32(Int(UInt32.max))                                   // dwQuality: -1 = default
        w.u32(0)                                                 // dwSampleSize: varies
        w.u16(0); w.u16(0); w.u16(h.width); w.u16(h.height)      // rcFrame
        w.fourCC("strf"); w.u32(40)
        w.u32(40); w.u32(h.width); w.u32(h.height)               // BITMAPINFOHEADER
        w.u16(1); w.u16(24)                                      // biPlanes, biBitCount
        w.fourCC("MJPG"); w.u32(h.width * h.height * 3)          // biCompression, biSizeImage
        for _ in 0..<4 { w.u32(0) }
        let junkStart = w.count
        let moviListStart = headerBytes - 12
        w.fourCC("JUNK"); w.u32(moviListStart - junkStart - 8)
        while w.count < moviListStart { w.u8(0) }
        w.fourCC("LIST"); w.u32(4 + h.moviBytes); w.fourCC("movi")
        precondition(w.count == headerBytes)
    }
}

/// Little-endian field writer over caller-owned memory.
public struct LittleEndianWriter {
    let base: UnsafeMutableRawBufferPointer
    public private(set) var count = 0
    public init(_ base: UnsafeMutableRawBufferPointer) { self.base = base }

    public mutating func u8(_ v: UInt8) { base[count] = v; count += 1 }
    public mutating func u16(_ v: Int) { u8(UInt8(v & 0xFF)); u8(UInt8((v >> 8) & 0xFF)) }
    public mutating func u32(_ v: Int) {
        let x = UInt32(truncatingIfNeeded: v)
        for i in 0..<4 { u8(UInt8((x >> (8 * UInt32(i))) & 0xFF)) }
    }
    public mutating func fourCC(_ s: StaticString) {
        precondition(s.utf8CodeUnitCount == 4)
        s.withUTF8Buffer { for b in $0 { u8(b) } }
    }
}
