#if canImport(Glibc)
import Glibc
#endif

/// Reads back the AVI files this camera writes: header fields, the frames in 'movi', and the idx1 index
/// checked against them. Used by tests and by `bodycam verify`/`inspect`; an independent decoder
/// (ffprobe/ffmpeg) checks the same files in the test suite.
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

    public var width = 0, height = 0, fps = 0
    public var headerFrames = 0
    public var streamLength = 0
    /// Byte ranges of each frame's JPEG data within the file.
    public var frames: [Range<Int>] = []
    public var indexEntries = 0
    public let bytes: [UInt8]

    public static func read(path: String) throws(Failure) -> AVIReader {
        guard let data = FileBytes.read(path) else { throw .unreadable(path) }
        return try AVIReader(bytes: data)
    }

    public init(bytes: [UInt8]) throws(Failure) {
        self.bytes = bytes
        guard bytes.count >= 12, fourCC(0) == "RIFF", fourCC(8) == "AVI " else { throw .malformed("not RIFF AVI") }
        var moviStart = -1, moviEnd = -1, idx1: Range<Int>?
        var pos = 12
        while pos + 8 <= bytes.count {
            let id = fourCC(pos), size = u32(pos + 4)
            let end = pos + 8 + size
            guard end <= bytes.count else { throw .malformed("chunk \(id) at \(pos) runs past the end of the file") }
            if id == "LIST" {
                let kind = fourCC(pos + 8)
                if kind == "hdrl" { try parseHeaderList(pos + 12, end) }
                if kind == "movi" { moviStart = pos + 12; moviEnd = end }
            } else if id == "idx1" {
                idx1 = (pos + 8)..<end
            }
            pos = end + (size & 1)
        }
        guard moviStart >= 0 else { throw .malformed("no movi list") }
        var p = moviStart
        while p + 8 <= moviEnd {
            let id = fourCC(p), size = u32(p + 4)
            guard p + 8 + size <= moviEnd else { throw .malformed("frame chunk at \(p) runs past movi") }
            if id == "00dc" { frames.append((p + 8)..<(p + 8 + size)) }
            p += 8 + size + (size & 1)
        }
        if let idx = idx1 {
            indexEntries = idx.count / 16
            guard indexEntries == frames.count else {
                throw .malformed("index has \(indexEntries) entries for \(frames.count) frames")
            }
            for (i, frame) in frames.enumerated() {
                let e = idx.lowerBound + i * 16
                let offset = u32(e + 8), length = u32(e + 12)
                guard moviStart - 4 + offset + 8 == frame.lowerBound, length == frame.count else {
                    throw .malformed("index entry \(i) does not match frame chunk")
                }
            }
        }
    }

    private mutating func parseHeaderList(_ start: Int, _ end: Int) throws(Failure) {
        var p = start
        while p + 8 <= end {
            let id = fourCC(p), size = u32(p + 4)
            if id == "avih" {
                headerFrames = u32(p + 8 + 16)
                width = u32(p + 8 + 32)
                height = u32(p + 8 + 36)
            } else if id == "LIST" && fourCC(p + 8) == "strl" {
                var q = p + 12
                while q + 8 <= p + 8 + size {
                    let sid = fourCC(q), ssize = u32(q + 4)
                    if sid == "strh" {
                        guard fourCC(q + 8) == "vids", fourCC(q + 12) == "MJPG" else {
                            throw .malformed("stream is not MJPG video")
                        }
                        let scale = u32(q + 8 + 20), rate = u32(q + 8 + 24)
                        fps = scale > 0 ? rate / scale : 0
                        streamLength = u32(q + 8 + 32)
                    }
                    q += 8 + ssize + (ssize & 1)
                }
            }
            p += 8 + size + (size & 1)
        }
    }

    public func frameBytes(_ i: Int) -> ArraySlice<UInt8> { bytes[frames[i]] }

    /// The camera's stamp in frame `i`'s COM segment, if any.
    public func stamp(_ i: Int) -> FrameStamp? {
        JPEGMarkers.comments(Array(frameBytes(i))).lazy.compactMap { FrameStamp.parse($0) }.first
    }

    private func fourCC(_ at: Int) -> String {
        String(decoding: bytes[at..<(at + 4)], as: UTF8.self)
    }
    private func u32(_ at: Int) -> Int {
        Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
    }
}
