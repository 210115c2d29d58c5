import Testing
@testable import BodycamCore

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
