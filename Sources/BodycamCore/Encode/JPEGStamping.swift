import BodycamEvidence

/// Byte-level handling of frames that arrive already encoded (MJPEG webcams, JPEG files): check they are
/// whole, and stamp them with our COM metadata while copying them into the ring.
public extension JPEGMarkers {
    /// A frame starts with SOI and ends with EOI (trailing zero padding, common from USB cameras, allowed).
    static func isComplete(_ jpeg: UnsafeRawBufferPointer) -> Bool {
        guard jpeg.count >= 128, jpeg[0] == 0xFF, jpeg[1] == soi else { return false }
        return completeLength(jpeg) != nil
    }

    /// The length up to and including EOI, without trailing zero padding; nil if there is no EOI there.
    static func completeLength(_ jpeg: UnsafeRawBufferPointer) -> Int? {
        var end = jpeg.count
        while end > 2 && jpeg[end - 1] == 0 { end -= 1 }
        return end >= 4 && jpeg[end - 2] == 0xFF && jpeg[end - 1] == eoi ? end : nil
    }

    /// Where our COM goes: after SOI and any APPn segments (JFIF wants APP0 first), before the tables.
    /// Returns nil if the header is malformed.
    static func commentInsertionPoint(_ jpeg: UnsafeRawBufferPointer) -> Int? {
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

    /// Where the scan starts (the SOS marker), and whether a DHT segment comes before it.
    static func scanStart(_ jpeg: UnsafeRawBufferPointer) -> (sos: Int, hasHuffmanTables: Bool)? {
        var i = 2, dht = false
        while i + 4 <= jpeg.count {
            guard jpeg[i] == 0xFF else { return nil }
            let marker = jpeg[i + 1]
            if marker == 0xFF { i += 1; continue } // fill byte
            if marker == sos { return (i, dht) }
            if marker == 0xC4 { dht = true }
            let length = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
            guard length >= 2 else { return nil }
            i += 2 + length
        }
        return nil
    }

    /// Copies `jpeg` into `output` with a COM segment holding `comment` inserted, and the standard
    /// Huffman tables before the scan if the frame has none (MJPEG webcams often leave them out). Returns
    /// the bytes written, or nil if it does not fit or the JPEG is malformed.
    static func copyInsertingComment(_ jpeg: UnsafeRawBufferPointer, comment: UnsafeRawBufferPointer,
                                            into output: UnsafeMutableRawBufferPointer) -> Int? {
        guard comment.count <= 65533, let at = commentInsertionPoint(jpeg), let scan = scanStart(jpeg), scan.sos >= at
        else { return nil }
        let tables = StandardHuffmanTables.payload
        let dhtBytes = scan.hasHuffmanTables ? 0 : 4 + tables.count
        let total = jpeg.count + 4 + comment.count + dhtBytes
        guard total <= output.count, let out = output.baseAddress, let src = jpeg.baseAddress else { return nil }
        var o = 0
        func put(_ p: UnsafeRawPointer, _ n: Int) { (out + o).copyMemory(from: p, byteCount: n); o += n }
        func segment(_ marker: UInt8, _ length: Int) {
            for b in [0xFF, marker, UInt8((length + 2) >> 8), UInt8((length + 2) & 0xFF)] { out.storeBytes(of: b, toByteOffset: o, as: UInt8.self); o += 1 }
        }
        put(src, at)
        segment(com, comment.count)
        if let c = comment.baseAddress { put(c, comment.count) }
        put(src + at, scan.sos - at)
        if dhtBytes > 0 {
            segment(0xC4, tables.count)
            tables.withUnsafeBytes { put($0.baseAddress!, tables.count) }
        }
        put(src + scan.sos, jpeg.count - scan.sos)
        return o
    }
}
