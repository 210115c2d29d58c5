import CHAL
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

struct JPEGMarkerTests {
    static func sampleJPEG() throws -> [UInt8] {
        let raw = try JPEGEncoderTests.syntheticFrame(width: 64, height: 48, format: .yuyv)
        return try JPEGEncoderTests.encode(raw, FrameGeometry(width: 64, height: 48, format: .yuyv))
    }

    @Test func commentIsInsertedAfterTheAppSegmentsAndTheFrameStillDecodes() throws {
        let jpeg = try Self.sampleJPEG()
        let comment = Array("BWV1 hello".utf8)
        var out = [UInt8](repeating: 0, count: jpeg.count + 100)
        let n = try #require(jpeg.withUnsafeBytes { src in
            comment.withUnsafeBytes { c in out.withUnsafeMutableBytes { JPEGMarkers.copyInsertingComment(src, comment: c, into: $0) } }
        })
        let stamped = Array(out[0..<n])
        #expect(n == jpeg.count + 4 + comment.count)
        #expect(stamped[2] == 0xFF && stamped[3] == 0xE0) // JFIF APP0 still first
        #expect(JPEGMarkers.comments(stamped).map(Array.init) == [comment])
        let planar = try JPEGEncoderTests.decodePlanar(stamped, pixelFormat: "yuvj422p")
        #expect(planar == (try JPEGEncoderTests.decodePlanar(jpeg, pixelFormat: "yuvj422p")))
    }

    @Test func incompleteFramesAreRecognised() throws {
        let jpeg = try Self.sampleJPEG()
        #expect(jpeg.withUnsafeBytes { JPEGMarkers.isComplete($0) })
        #expect((jpeg + [0, 0, 0]).withUnsafeBytes { JPEGMarkers.isComplete($0) }) // USB zero padding
        #expect(!Array(jpeg.dropLast(10)).withUnsafeBytes { JPEGMarkers.isComplete($0) })
        #expect(!Array(jpeg.dropFirst(2)).withUnsafeBytes { JPEGMarkers.isComplete($0) })
        #expect(![UInt8](repeating: 0xFF, count: 10).withUnsafeBytes { JPEGMarkers.isComplete($0) })
    }

    /// The vector marker scan against the obvious byte loop: every length up to a few vector blocks, a
    /// marker at every position (block edges included), dense 0xFF stuffing, and random data.
    @Test func markerScanFindsTheFirstPairLikeAByteLoop() {
        func naive(_ b: [UInt8], _ m: UInt8) -> Int {
            var i = 0
            while i + 1 < b.count { if b[i] == 0xFF && b[i + 1] == m { return i }; i += 1 }
            return b.count
        }
        func scan(_ b: [UInt8], _ m: UInt8) -> Int { b.withUnsafeBufferPointer { hal_jpeg_find_marker($0.baseAddress, $0.count, m) } }
        var rng = SplitMix64(seed: 7)
        for length in 0...70 {
            // Stuffed entropy data (0xFF 0x00) and a 0xFF as the very last byte: no marker.
            var stuffed = (0..<length).map { $0 % 2 == 0 ? UInt8(0xFF) : 0x00 }
            if length > 0 { stuffed[length - 1] = 0xFF }
            #expect(scan(stuffed, 0xD9) == length)
            for at in 0..<max(0, length - 1) {
                var b = stuffed
                b[at] = 0xFF
                b[at + 1] = 0xD9
                #expect(scan(b, 0xD9) == naive(b, 0xD9), "length \(length), marker at \(at)")
            }
        }
        for _ in 0..<2000 {
            let b = (0..<Int(rng.next() % 300)).map { _ in rng.next() % 4 == 0 ? UInt8(0xFF) : UInt8(0xD0 + rng.next() % 16) }
            #expect(scan(b, 0xD9) == naive(b, 0xD9) && scan(b, 0xD8) == naive(b, 0xD8))
        }
    }

    @Test func commentDoesNotFitIsNil() throws {
        let jpeg = try Self.sampleJPEG()
        var out = [UInt8](repeating: 0, count: jpeg.count)
        let r = jpeg.withUnsafeBytes { src in
            [UInt8](repeating: 65, count: 10).withUnsafeBytes { c in
                out.withUnsafeMutableBytes { JPEGMarkers.copyInsertingComment(src, comment: c, into: $0) }
            }
        }
        #expect(r == nil)
    }
}

struct HuffmanTableTests {
    /// A JPEG with its DHT segments removed, as many MJPEG webcams send frames.
    static func withoutHuffmanTables(_ jpeg: [UInt8]) -> [UInt8] {
        var out = Array(jpeg[0..<2])
        var i = 2
        while i + 4 <= jpeg.count {
            let marker = jpeg[i + 1]
            if marker == 0xDA { out += jpeg[i...]; break }
            let length = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
            if marker != 0xC4 { out += jpeg[i..<(i + 2 + length)] }
            i += 2 + length
        }
        return out
    }

    @Test func framesWithoutHuffmanTablesGetTheStandardOnesAndDecodeOnTheirOwn() throws {
        let jpeg = try JPEGMarkerTests.sampleJPEG()
        let bare = Self.withoutHuffmanTables(jpeg)
        #expect(bare.count == jpeg.count - 4 * 4 - StandardHuffmanTables.payload.count)
        #expect(bare.withUnsafeBytes { JPEGMarkers.scanStart($0)?.hasHuffmanTables } == false)
        var out = [UInt8](repeating: 0, count: jpeg.count + 1000)
        let n = try #require(bare.withUnsafeBytes { src in
            Array("BWV1 x".utf8).withUnsafeBytes { c in out.withUnsafeMutableBytes { JPEGMarkers.copyInsertingComment(src, comment: c, into: $0) } }
        })
        let fixed = Array(out[0..<n])
        #expect(fixed.withUnsafeBytes { JPEGMarkers.scanStart($0)?.hasHuffmanTables } == true)
        // It decodes (libjpeg and ffmpeg) to exactly the picture of the original frame.
        #expect(try JPEGEncoderTests.decodeLumaWithLibjpeg(fixed) == (try JPEGEncoderTests.decodeLumaWithLibjpeg(jpeg)))
        #expect(try JPEGEncoderTests.decodePlanar(fixed, pixelFormat: "yuvj422p") == (try JPEGEncoderTests.decodePlanar(jpeg, pixelFormat: "yuvj422p")))
        // A frame that has its tables is left as it is (plus the comment).
        let kept = try #require(jpeg.withUnsafeBytes { src in
            Array("BWV1 x".utf8).withUnsafeBytes { c in out.withUnsafeMutableBytes { JPEGMarkers.copyInsertingComment(src, comment: c, into: $0) } }
        })
        #expect(kept == jpeg.count + 4 + 6)
    }
}
