import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

struct JPEGEncoderTests {
    /// One synthetic frame of the given geometry as raw bytes.
    static func syntheticFrame(width: Int, height: Int, format: PixelFormat, seed: UInt64 = 7) throws -> [UInt8] {
        let source = try #require(SyntheticSource(width: width, height: height, fps: 30, format: format, seed: seed,
                                                  clock: VirtualClock(), utc: UTCMapping(utcAtZero: 0)))
        try source.start()
        let frame = try #require(try source.nextFrame())
        return Array(frame.bytes)
    }

    static func encode(_ raw: [UInt8], _ geometry: FrameGeometry, quality: Int = 85, comment: String = "") throws -> [UInt8] {
        let encoder = try #require(JPEGEncoder(geometry: geometry, quality: quality))
        var out = [UInt8](repeating: 0, count: geometry.maxEncodedFrameBytes)
        let c = Array(comment.utf8)
        let n = try raw.withUnsafeBytes { src in
            try c.withUnsafeBytes { com in try out.withUnsafeMutableBytes { try encoder.encode(src, comment: com, into: $0) } }
        }
        return Array(out[0..<n])
    }

    /// Decodes with ffmpeg (independent of libjpeg) to planar full-range YUV.
    static func decodePlanar(_ jpeg: [UInt8], pixelFormat: String) throws -> [UInt8] {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(jpeg).write(to: URL(fileURLWithPath: dir + "/f.jpg"))
        let o = try TestSupport.run(TestSupport.tool("ffmpeg"), ["-v", "error", "-nostdin", "-i", dir + "/f.jpg",
                                                                 "-f", "rawvideo", "-pix_fmt", pixelFormat, dir + "/f.yuv"])
        #expect(o.status == 0, "\(o.stderr)")
        return Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/f.yuv")))
    }

    /// Decodes the luma with libjpeg's own djpeg (grayscale PGM).
    static func decodeLumaWithLibjpeg(_ jpeg: [UInt8]) throws -> [UInt8] {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(jpeg).write(to: URL(fileURLWithPath: dir + "/f.jpg"))
        let o = try TestSupport.run(TestSupport.tool("djpeg"), ["-grayscale", "-pnm", "-outfile", dir + "/f.pgm", dir + "/f.jpg"])
        #expect(o.status == 0, "\(o.stderr)")
        let pgm = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/f.pgm")))
        // "P5\nW H\n255\n" then the pixels: skip three header lines.
        var newlines = 0, i = 0
        while newlines < 3 { if pgm[i] == 10 { newlines += 1 }; i += 1 }
        return Array(pgm[i...])
    }

    static func psnr(_ a: [UInt8], _ b: [UInt8]) throws -> Double {
        try #require(a.count == b.count, "planes of different sizes")
        var se = 0.0
        for i in a.indices { let d = Double(a[i]) - Double(b[i]); se += d * d }
        let mse = se / Double(a.count)
        return mse == 0 ? 99 : 10 * log10(255 * 255 / mse)
    }

    static func yuyvPlanes(_ raw: [UInt8], width: Int, height: Int) -> (y: [UInt8], u: [UInt8], v: [UInt8]) {
        var y: [UInt8] = [], u: [UInt8] = [], v: [UInt8] = []
        for p in stride(from: 0, to: width * height * 2, by: 4) {
            y.append(raw[p]); u.append(raw[p + 1]); y.append(raw[p + 2]); v.append(raw[p + 3])
        }
        return (y, u, v)
    }

    @Test(arguments: [(320, 240), (328, 246), (640, 480)])
    func yuyvDecodesBackCloseToTheSource(width: Int, height: Int) throws {
        let g = FrameGeometry(width: width, height: height, format: .yuyv)
        let raw = try Self.syntheticFrame(width: width, height: height, format: .yuyv)
        let jpeg = try Self.encode(raw, g)
        let src = Self.yuyvPlanes(raw, width: width, height: height)
        let luma = try Self.decodeLumaWithLibjpeg(jpeg)
        #expect(try Self.psnr(luma, src.y) >= 30, "libjpeg luma PSNR")
        let planar = try Self.decodePlanar(jpeg, pixelFormat: "yuvj422p")
        let n = width * height
        #expect(try Self.psnr(Array(planar[0..<n]), src.y) >= 30)
        #expect(try Self.psnr(Array(planar[n..<(n + n / 2)]), src.u) >= 30)
        #expect(try Self.psnr(Array(planar[(n + n / 2)...]), src.v) >= 30)
    }

    @Test(arguments: [(320, 240), (328, 246)])
    func i420DecodesBackCloseToTheSource(width: Int, height: Int) throws {
        let g = FrameGeometry(width: width, height: height, format: .i420)
        let raw = try Self.syntheticFrame(width: width, height: height, format: .i420)
        let jpeg = try Self.encode(raw, g)
        let planar = try Self.decodePlanar(jpeg, pixelFormat: "yuvj420p")
        #expect(planar.count == raw.count)
        let n = width * height
        #expect(try Self.psnr(Array(planar[0..<n]), Array(raw[0..<n])) >= 30)
        #expect(try Self.psnr(Array(planar[n...]), Array(raw[n...])) >= 30)
    }

    @Test(arguments: [(320, 240), (328, 246)])
    func nv12EncodesExactlyLikeTheSameI420Frame(width: Int, height: Int) throws {
        let i420 = try Self.syntheticFrame(width: width, height: height, format: .i420)
        let n = width * height, q = n / 4
        var nv12 = Array(i420[0..<n])
        for i in 0..<q { nv12.append(i420[n + i]); nv12.append(i420[n + q + i]) } // U V pairs
        let a = try Self.encode(i420, FrameGeometry(width: width, height: height, format: .i420))
        let b = try Self.encode(nv12, FrameGeometry(width: width, height: height, format: .nv12))
        #expect(a == b)
        let planar = try Self.decodePlanar(b, pixelFormat: "yuvj420p")
        #expect(try Self.psnr(Array(planar[0..<n]), Array(i420[0..<n])) >= 30)
    }

    @Test func paddedStrideIsHonoured() throws {
        let width = 320, height = 240, stride = 704
        let tight = try Self.syntheticFrame(width: width, height: height, format: .yuyv)
        var padded = [UInt8](repeating: 0xEE, count: stride * height)
        for row in 0..<height { padded[(row * stride)..<(row * stride + width * 2)] = tight[(row * width * 2)..<((row + 1) * width * 2)] }
        let a = try Self.encode(tight, FrameGeometry(width: width, height: height, format: .yuyv))
        let b = try Self.encode(padded, FrameGeometry(width: width, height: height, format: .yuyv, stride: stride))
        #expect(a == b)
    }

    @Test func tooSmallOutputIsAnErrorAndTheEncoderKeepsWorking() throws {
        let g = FrameGeometry(width: 320, height: 240, format: .yuyv)
        let raw = try Self.syntheticFrame(width: 320, height: 240, format: .yuyv)
        let encoder = try #require(JPEGEncoder(geometry: g, quality: 85))
        var small = [UInt8](repeating: 0, count: 1000)
        #expect(throws: JPEGEncodeError.outputTooSmall) {
            try raw.withUnsafeBytes { src in
                try small.withUnsafeMutableBytes { try encoder.encode(src, comment: UnsafeRawBufferPointer(start: nil, count: 0), into: $0) }
            }
        }
        #expect(throws: JPEGEncodeError.inputTooSmall) {
            try raw.prefix(100).withUnsafeBytes { src in
                try small.withUnsafeMutableBytes { try encoder.encode(src, comment: UnsafeRawBufferPointer(start: nil, count: 0), into: $0) }
            }
        }
        // After the failures, a normal encode gives the same bytes as a fresh encoder.
        var out = [UInt8](repeating: 0, count: g.maxEncodedFrameBytes)
        let n = try raw.withUnsafeBytes { src in
            try out.withUnsafeMutableBytes { try encoder.encode(src, comment: UnsafeRawBufferPointer(start: nil, count: 0), into: $0) }
        }
        #expect(Array(out[0..<n]) == (try Self.encode(raw, g)))
    }

    @Test func invalidGeometriesAreRefused() {
        #expect(JPEGEncoder(geometry: FrameGeometry(width: 321, height: 240, format: .yuyv), quality: 85) == nil)
        #expect(JPEGEncoder(geometry: FrameGeometry(width: 8, height: 8, format: .yuyv), quality: 85) == nil)
        #expect(JPEGEncoder(geometry: FrameGeometry(width: 320, height: 240, format: .yuyv), quality: 0) == nil)
        #expect(JPEGEncoder(geometry: FrameGeometry(width: 320, height: 240, format: .mjpeg), quality: 85) == nil)
        #expect(JPEGEncoder(geometry: FrameGeometry(width: 320, height: 240, format: .yuyv, stride: 400), quality: 85) == nil)
    }

    @Test func commentCarriesTheStampAndEncodingDoesNotFallBackToTheHeap() throws {
        let g = FrameGeometry(width: 320, height: 240, format: .yuyv)
        let source = try #require(SyntheticSource(width: 320, height: 240, fps: 30, format: .yuyv, seed: 3,
                                                  clock: VirtualClock(), utc: UTCMapping(utcAtZero: 0)))
        try source.start()
        let encoder = try #require(JPEGEncoder(geometry: g, quality: 85))
        var out = [UInt8](repeating: 0, count: g.maxEncodedFrameBytes)
        let text = Array("BWV1 dev=X seq=0000000001 utc=2026-01-01T08:00:00.000Z mono=000000000.000000000".utf8)
        var last = 0
        for _ in 0..<50 {
            let frame = try #require(try source.nextFrame())
            last = try text.withUnsafeBytes { com in
                try out.withUnsafeMutableBytes { try encoder.encode(frame.bytes, comment: com, into: $0) }
            }
        }
        #expect(encoder.heapFallbacks == 0)
        let comments = JPEGMarkers.comments(Array(out[0..<last]))
        #expect(comments.count == 1 && Array(comments[0]) == text)
    }

    @Test func syntheticContentCompressesLikeCameraFootage() throws {
        // Raw 4:2:2 against JPEG at quality 85: camera footage is roughly 5:1 to 15:1, a flat pattern 50:1.
        for (w, h) in [(640, 480), (1280, 720)] {
            let g = FrameGeometry(width: w, height: h, format: .yuyv)
            let raw = try Self.syntheticFrame(width: w, height: h, format: .yuyv)
            let ratio = Double(raw.count) / Double(try Self.encode(raw, g).count)
            #expect(ratio >= 5 && ratio <= 15, "\(w)x\(h) compresses \(ratio):1")
        }
    }
}
