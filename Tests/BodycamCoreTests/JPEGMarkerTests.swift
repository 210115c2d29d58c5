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
