/// JPEG markers, and reading our COM metadata (the frame stamp) back out of a frame. The camera side
/// (whole-frame checks, stamping) extends this in BodycamCore.
public enum JPEGMarkers {
    public static let soi: UInt8 = 0xD8, eoi: UInt8 = 0xD9, com: UInt8 = 0xFE, sos: UInt8 = 0xDA

    /// The payloads of all COM segments before the scan data. Total on any bytes: a segment whose length
    /// runs past the end stops the walk.
    public static func comments(_ jpeg: [UInt8]) -> [ArraySlice<UInt8>] { comments(jpeg[...]) }

    /// Same, on a slice of a larger buffer (a frame inside a file), without copying it.
    public static func comments(_ jpeg: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var found: [ArraySlice<UInt8>] = []
        let start = jpeg.startIndex, end = jpeg.endIndex
        var i = start + 2
        while i + 4 <= end, jpeg[i] == 0xFF {
            let marker = jpeg[i + 1]
            if marker == sos || marker == eoi { break }
            let length = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
            guard length >= 2, i + 2 + length <= end else { break }
            if marker == com { found.append(jpeg[(i + 4)..<(i + 2 + length)]) }
            i += 2 + length
        }
        return found
    }
}
