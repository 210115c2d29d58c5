/// Byte-level JPEG marker handling for frames that arrive already encoded (MJPEG webcams, JPEG files):
/// check they are whole, and stamp them with our COM metadata while copying them into the ring.
public enum JPEGMarkers {
    public static let soi: UInt8 = 0xD8, eoi: UInt8 = 0xD9, com: UInt8 = 0xFE, sos: UInt8 = 0xDA

    /// A frame starts with SOI and ends with EOI (trailing zero padding, common from USB cameras, allowed).
    public static func isComplete(_ jpeg: UnsafeRawBufferPointer) -> Bool {
        guard jpeg.count >= 128, jpeg[0] == 0xFF, jpeg[1] == soi else { return false }
        return completeLength(jpeg) != nil
    }

    /// The length up to and including EOI, without trailing zero padding; nil if there is no EOI there.
    public static func completeLength(_ jpeg: UnsafeRawBufferPointer) -> Int? {
        var end = jpeg.count
        while end > 2 && jpeg[end - 1] == 0 { end -= 1 }
        return end >= 4 && jpeg[end - 2] == 0xFF && jpeg[end - 1] == eoi ? end : nil
    }

    /// Where our COM goes: after SOI and any APPn segments (JFIF wants APP0 first), before the tables.
    /// Returns nil if the header is malformed.
    public static func commentInsertionPoint(_ jpeg: UnsafeRawBufferPointer) -> Int? {
        var i = 2
        while i + 4 <= jpeg.count {
            guard jpeg[i] == 0xFF else { return nil }
            let marker = jpeg[i + 1]
            guard marker >= 0xE0 && marker <= 0xEF else { return i }
            let length = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
            guard length >= 2 else { return nil }
            i += 2 + length
        }
        return nil
    }

    /// Copies `jpeg` into `output` with a COM segment holding `comment` inserted. Returns the bytes
    /// written, or nil if it does not fit or the JPEG is malformed.
    public static func copyInsertingComment(_ jpeg: UnsafeRawBufferPointer, comment: UnsafeRawBufferPointer,
                                            into output: UnsafeMutableRawBufferPointer) -> Int? {
        guard comment.count <= 65533, let at = commentInsertionPoint(jpeg) else { return nil }
        let total = jpeg.count + 4 + comment.count
        guard total <= output.count, let out = output.baseAddress, let src = jpeg.baseAddress else { return nil }
        out.copyMemory(from: src, byteCount: at)
        let segmentLength = comment.count + 2
        out.storeBytes(of: 0xFF, toByteOffset: at, as: UInt8.self)
        out.storeBytes(of: com, toByteOffset: at + 1, as: UInt8.self)
        out.storeBytes(of: UInt8(segmentLength >> 8), toByteOffset: at + 2, as: UInt8.self)
        out.storeBytes(of: UInt8(segmentLength & 0xFF), toByteOffset: at + 3, as: UInt8.self)
        if let c = comment.baseAddress { (out + at + 4).copyMemory(from: c, byteCount: comment.count) }
        (out + at + 4 + comment.count).copyMemory(from: src + at, byteCount: jpeg.count - at)
        return total
    }

    /// The payloads of all COM segments before the scan data.
    public static func comments(_ jpeg: [UInt8]) -> [ArraySlice<UInt8>] {
        var found: [ArraySlice<UInt8>] = []
        var i = 2
        while i + 4 <= jpeg.count, jpeg[i] == 0xFF {
            let marker = jpeg[i + 1]
            if marker == sos || marker == eoi { break }
            let length = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
            guard length >= 2, i + 2 + length <= jpeg.count else { break }
            if marker == com { found.append(jpeg[(i + 4)..<(i + 2 + length)]) }
            i += 2 + length
        }
        return found
    }
}
