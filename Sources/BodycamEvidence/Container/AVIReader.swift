#if canImport(Glibc)
import Glibc
#endif

/// Reads back the AVI files this camera writes: header fields, the frames in 'movi', and the idx1 index
/// checked against them. Used by tests and by `bodycam verify`/`inspect`/recovery; an independent decoder
/// (ffprobe/ffmpeg) checks the same files in the test suite.
///
/// Total on any bytes: every size read from the file is checked against the end of the chunk that holds
/// it (and the file) before it is used, so a damaged file gives a `Failure`, never a trap or a read past
/// the end. A zero-length '00dc' chunk is AVI's "dropped frame" placeholder (players hold the last
/// picture): it is part of the timeline and the index, but not one of `frames`.
public struct AVIReader {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unreadable(String)
        case malformed(String)
        public var description: String {
            switch self {
            case .unreadable(let s): return "unreadable: \(s)"
            case .malformed(let s): return "malformed AVI: \(s)"
            }
        }
    }

    /// Largest file `read(path:)` loads: twice the AVI 1.0 limit our writer stays under (1 GiB).
    public static let maxFileBytes = 2 << 30

    public var width = 0, height = 0, fps = 0
    public var headerFrames = 0
    public var streamLength = 0
    /// Byte ranges of each JPEG frame's data within the file (non-empty '00dc' chunks).
    public var frames: [Range<Int>] = []
    /// '00dc' chunks in 'movi', placeholders included: the stream's length in frame intervals.
    public var timelineEntries = 0
    /// Timeline positions (0-based, counting every '00dc' chunk) of the zero-length placeholder chunks.
    public var emptyChunks: [Int] = []
    public var indexEntries = 0
    public let bytes: [UInt8]

    // Header details recovery needs (AVIRepair); not part of the public reading API.
    public internal(set) var avihFlags = 0
    var suggestedBufferSize = 0
    public internal(set) var riffSize = 0
    /// Offset of the 'movi' LIST chunk and its declared size.
    public internal(set) var moviListOffset = -1
    public internal(set) var moviListSize = 0
    var hasHeaderList = false

    /// Reads a regular file (never through a symlink, never a FIFO or device) of at most `maxFileBytes`.
    public static func read(path: String) throws(Failure) -> AVIReader {
        let bytes: [UInt8]
        do { bytes = try FileBytes.contents(path, limit: maxFileBytes) } catch { throw .unreadable("\(error)") }
        return try AVIReader(bytes: bytes)
    }

    public init(bytes: [UInt8]) throws(Failure) {
        self.bytes = bytes
        try parse(headerOnly: false)
    }

    /// Only the header: RIFF, 'hdrl' and where 'movi' starts, whose declared size may run past `bytes`
    /// (recovery reads the fixed-size header of a file it then scans chunk by chunk).
    public init(header bytes: [UInt8]) throws(Failure) {
        self.bytes = bytes
        try parse(headerOnly: true)
    }

    private mutating func parse(headerOnly: Bool) throws(Failure) {
        let n = bytes.count
        guard n >= 12, fourCC(0) == "RIFF", fourCC(8) == "AVI " else { throw .malformed("not RIFF AVI") }
        riffSize = u32(4)
        var movi: Range<Int>?, idx1: Range<Int>?
        var pos = 12
        while pos + 8 <= n {
            let id = fourCC(pos), size = u32(pos + 4)
            let end = pos + 8 + size // size < 2^32: no overflow
            if id == "LIST" {
                guard size >= 4, pos + 12 <= n else { throw .malformed("LIST at \(pos) is shorter than its type") }
                let kind = fourCC(pos + 8)
                if kind == "movi" {
                    guard movi == nil else { throw .malformed("second movi list at \(pos)") }
                    moviListOffset = pos
                    moviListSize = size
                    if headerOnly { return try requireHeader() }
                }
                guard end <= n else { throw .malformed("chunk \(id) at \(pos) runs past the end of the file") }
                if kind == "hdrl" {
                    guard !hasHeaderList else { throw .malformed("second hdrl list at \(pos)") }
                    try parseHeaderList(pos + 12, end)
                    hasHeaderList = true
                } else if kind == "movi" {
                    movi = (pos + 12)..<end
                }
            } else {
                guard end <= n else { throw .malformed("chunk \(id) at \(pos) runs past the end of the file") }
                if id == "idx1" {
                    // Only after the frames: one before 'movi' would make the header reader and the file reader
                    // disagree about what the file is (found by fuzzing AVI repair).
                    guard movi != nil else { throw .malformed("idx1 at \(pos) before the movi list") }
                    guard idx1 == nil else { throw .malformed("second idx1 at \(pos)") }
                    idx1 = (pos + 8)..<end
                }
            }
            pos = end + (size & 1)
        }
        try requireHeader()
        guard !headerOnly else { throw .malformed("no movi list") }
        guard let movi else { throw .malformed("no movi list") }
        if let idx1 {
            guard idx1.count % AVILayout.indexEntryBytes == 0 else {
                throw .malformed("idx1 of \(idx1.count) bytes is not a whole number of 16-byte entries")
            }
            indexEntries = idx1.count / AVILayout.indexEntryBytes
        }
        var p = movi.lowerBound
        while p + 8 <= movi.upperBound {
            let id = fourCC(p), size = u32(p + 4)
            let end = p + 8 + size
            guard end <= movi.upperBound else { throw .malformed("frame chunk at \(p) runs past movi") }
            if id == "00dc" {
                if let idx1 {
                    // Each index entry names this chunk: id, offset from the 'movi' fourcc, length.
                    let i = timelineEntries
                    guard i < indexEntries else { throw .malformed("index has \(indexEntries) entries for more chunks") }
                    let e = idx1.lowerBound + i * AVILayout.indexEntryBytes
                    guard fourCC(e) == "00dc", movi.lowerBound - 4 + u32(e + 8) == p, u32(e + 12) == size else {
                        throw .malformed("index entry \(i) does not match frame chunk")
                    }
                }
                if size == 0 { emptyChunks.append(timelineEntries) } else { frames.append((p + 8)..<end) }
                timelineEntries += 1
            }
            p = end + (size & 1)
        }
        if idx1 != nil, indexEntries != timelineEntries {
            throw .malformed("index has \(indexEntries) entries for \(timelineEntries) frame chunks")
        }
    }

    private func requireHeader() throws(Failure) {
        guard hasHeaderList else { throw .malformed("no hdrl list before movi") }
    }

    private mutating func parseHeaderList(_ start: Int, _ end: Int) throws(Failure) {
        var p = start
        while p + 8 <= end {
            let id = fourCC(p), size = u32(p + 4)
            let chunkEnd = p + 8 + size
            guard chunkEnd <= end else { throw .malformed("header chunk \(id) at \(p) runs past hdrl") }
            if id == "avih" {
                guard size >= 56 else { throw .malformed("avih of \(size) bytes, not 56") }
                avihFlags = u32(p + 8 + 12)
                headerFrames = u32(p + 8 + 16)
                suggestedBufferSize = u32(p + 8 + 28)
                width = u32(p + 8 + 32)
                height = u32(p + 8 + 36)
            } else if id == "LIST" {
                guard size >= 4 else { throw .malformed("LIST at \(p) is shorter than its type") }
                if fourCC(p + 8) == "strl" { try parseStreamList(p + 12, chunkEnd) }
            }
            p = chunkEnd + (size & 1)
        }
    }

    private mutating func parseStreamList(_ start: Int, _ end: Int) throws(Failure) {
        var q = start
        while q + 8 <= end {
            let id = fourCC(q), size = u32(q + 4)
            let chunkEnd = q + 8 + size
            guard chunkEnd <= end else { throw .malformed("stream chunk \(id) at \(q) runs past strl") }
            if id == "strh" {
                guard size >= 56 else { throw .malformed("strh of \(size) bytes, not 56") }
                guard fourCC(q + 8) == "vids", fourCC(q + 12) == "MJPG" else {
                    throw .malformed("stream is not MJPG video")
                }
                let scale = u32(q + 8 + 20), rate = u32(q + 8 + 24)
                fps = scale > 0 ? rate / scale : 0
                streamLength = u32(q + 8 + 32)
            }
            q = chunkEnd + (size & 1)
        }
    }

    public func frameBytes(_ i: Int) -> ArraySlice<UInt8> { bytes[frames[i]] }

    /// The camera's stamp in frame `i`'s COM segment, if any.
    public func stamp(_ i: Int) -> FrameStamp? {
        JPEGMarkers.comments(frameBytes(i)).lazy.compactMap { FrameStamp.parse($0) }.first
    }

    /// A four-character code, for comparisons and messages. Callers check `at + 4 <= bytes.count`.
    private func fourCC(_ at: Int) -> RIFFID { RIFFID(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]) }
    private func u32(_ at: Int) -> Int {
        Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
    }
}

/// Four bytes of a RIFF id, compared without building a String (the reader runs over every chunk).
private struct RIFFID: Equatable, ExpressibleByStringLiteral, CustomStringConvertible {
    let value: UInt32
    init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) | UInt32(b) << 8 | UInt32(c) << 16 | UInt32(d) << 24
    }
    init(stringLiteral s: StaticString) {
        precondition(s.utf8CodeUnitCount == 4)
        let p = s.utf8Start
        self.init(p[0], p[1], p[2], p[3])
    }
    var description: String {
        String(decoding: (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }, as: UTF8.self)
    }
}
