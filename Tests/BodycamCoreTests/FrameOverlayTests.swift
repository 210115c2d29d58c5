import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// The time stamp burnt into raw frames: drawn in place (unit), and read back from recorded frames
/// decoded by libjpeg's djpeg, against the same run with `--overlay off`.
@Suite(.serialized)
struct FrameOverlayTests {
    static let utc = CameraSettings.virtualClockStart + 4 * Nanos.perSecond + 100_000_000 // 08:00:04.1

    static func withBytes<R>(_ s: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        var a = Array(s.utf8)
        return a.withUnsafeMutableBytes { body(UnsafeRawBufferPointer($0)) }
    }

    @Test func scaleFollowsTheFrameHeight() throws {
        // 3840x2160 uses the same rule as the sizes recorded below.
        for (w, h, scale) in [(320, 180, 1), (640, 480, 2), (1280, 720, 3), (1920, 1080, 5), (3840, 2160, 10)] {
            let o = try #require(FrameOverlay(geometry: FrameGeometry(width: w, height: h, format: .yuyv)))
            #expect(o.scale == scale)
            #expect(o.boxX == 4 * scale && o.boxY == 4 * scale)
            let textHeight = 7 * scale
            #expect(Double(textHeight) >= Double(h) / 40 && Double(textHeight) <= Double(h) / 25, "\(w)x\(h)")
            #expect(o.boxWidth <= w && o.boxX + o.boxWidth <= w && o.boxY + o.boxHeight <= h)
        }
        #expect(FrameOverlay(geometry: FrameGeometry(width: 320, height: 180, format: .mjpeg)) == nil)
        // A tiny frame clips the box instead of writing outside the frame.
        let tiny = try #require(FrameOverlay(geometry: FrameGeometry(width: 16, height: 16, format: .i420)))
        #expect(tiny.boxX + tiny.boxWidth <= 16 && tiny.boxY + tiny.boxHeight <= 16)
    }

    @Test func textIsTimeDeviceAndOfficer() throws {
        let o = try #require(FrameOverlay(geometry: FrameGeometry(width: 320, height: 180, format: .yuyv)))
        let lines = Self.withBytes("BWV-0001") { id in Self.withBytes("PC-1234_a") { o.lines(utc: Self.utc, deviceID: id, officer: $0) } }
        #expect(lines == ["2026-01-01 08:00:04 UTC", "BWV-0001", "OFFICER PC-1234_a"])
        let unassigned = Self.withBytes("BWV-0001") { id in o.lines(utc: Self.utc, deviceID: id, officer: UnsafeRawBufferPointer(start: nil, count: 0)) }
        #expect(unassigned == ["2026-01-01 08:00:04 UTC", "BWV-0001", ""])
        // Every byte of a device or officer id has a glyph.
        for c in Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+:".utf8) {
            #expect((0..<7).contains { Font5x7.row(c, $0) != 0 }, "\(Character(Unicode.Scalar(c)))")
        }
    }

    @Test func localTimeShowsTheZoneOffset() throws {
        let saved = getenv("TZ").map { String(cString: $0) }
        setenv("TZ", "XXX-1", 1) // POSIX: one hour east of UTC
        defer {
            if let saved { setenv("TZ", saved, 1) } else { unsetenv("TZ") }
            tzset()
        }
        let o = try #require(FrameOverlay(geometry: FrameGeometry(width: 320, height: 180, format: .i420), time: .local))
        let lines = Self.withBytes("BWV-0001") { o.lines(utc: Self.utc, deviceID: $0, officer: UnsafeRawBufferPointer(start: nil, count: 0)) }
        #expect(lines.first == "2026-01-01 09:00:04 +01:00")
    }

    /// Draws on a mid-grey frame and checks: dark box with bright text, neutral chroma, nothing else touched.
    @Test(arguments: [PixelFormat.yuyv, .i420, .nv12])
    func drawsInPlaceInsideTheBoxOnly(format: PixelFormat) throws {
        let g = FrameGeometry(width: 320, height: 180, format: format)
        let o = try #require(FrameOverlay(geometry: g))
        var frame = [UInt8](repeating: 100, count: g.rawFrameBytes)
        frame.withUnsafeMutableBytes { buf in
            Self.withBytes("BWV-0001") { o.draw(into: buf, utc: Self.utc, deviceID: $0, officer: UnsafeRawBufferPointer(start: nil, count: 0)) }
        }
        func luma(_ x: Int, _ y: Int) -> UInt8 { frame[y * g.stride + (format == .yuyv ? 2 * x : x)] }
        var dark = 0, bright = 0
        for y in 0..<g.height {
            for x in 0..<g.width {
                let inBox = x >= o.boxX && x < o.boxX + o.boxWidth && y >= o.boxY && y < o.boxY + o.boxHeight
                let l = luma(x, y)
                if inBox {
                    #expect(l == 16 || l == 235)
                    if l == 16 { dark += 1 } else { bright += 1 }
                } else if l != 100 {
                    Issue.record("luma changed outside the box at \(x),\(y)"); return
                }
            }
        }
        #expect(bright > 200 && dark > 4 * bright)
        // Chroma: neutral in the box, untouched elsewhere.
        let changedChroma: Int
        switch format {
        case .yuyv:
            changedChroma = stride(from: 1, to: frame.count, by: 2).filter { frame[$0] != 100 }.count
            #expect(changedChroma == o.boxWidth * o.boxHeight)
        default:
            let chroma = frame[(g.stride * g.height)...]
            changedChroma = chroma.filter { $0 != 100 }.count
            #expect(changedChroma == o.boxWidth * o.boxHeight / 2) // U and V, each a quarter of the box
            #expect(chroma.filter { $0 == 128 }.count == changedChroma)
        }
    }

    // MARK: - Recorded frames

    /// Runs the camera with `options` (pre-record off, a 1 s recording from 0 s) and returns frame
    /// `index`'s luma, decoded by djpeg.
    static func recordedLuma(_ options: [String], storage: String, frames: String = "1s", index: Int = 0) throws -> [UInt8] {
        let out = try TestSupport.bodycam(["run", "--storage", storage, "--boot-time", "0s", "--prerecord", "0s",
                                           "--records", storage + "/records"] + options,
                                          stdin: "trigger holster\nwait \(frames)\nquit\n")
        try #require(out.status == 0, "\(out.stderr)")
        let segment = try #require(TestSupport.segments(in: storage).first)
        let avi = try AVIReader.read(path: segment)
        try #require(avi.frames.count > index)
        return try JPEGEncoderTests.decodeLumaWithLibjpeg(Array(avi.frameBytes(index)))
    }

    /// The box region of `on` is dark with bright text and differs from `off`; below the box (whole
    /// 16-row MCUs that do not touch it) the two decode to the same pixels.
    static func checkOverlay(on: [UInt8], off: [UInt8], width: Int, height: Int, format: PixelFormat,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let o = try #require(FrameOverlay(geometry: FrameGeometry(width: width, height: height, format: format)))
        try #require(on.count == width * height && off.count == on.count, sourceLocation: sourceLocation)
        var sumOn = 0, sumOff = 0, brightOn = 0, n = 0
        for y in o.boxY..<(o.boxY + o.boxHeight) {
            for x in o.boxX..<(o.boxX + o.boxWidth) {
                let a = Int(on[y * width + x]), b = Int(off[y * width + x])
                sumOn += a; sumOff += b; n += 1
                if a > 180 { brightOn += 1 }
            }
        }
        let meanOn = Double(sumOn) / Double(n), meanOff = Double(sumOff) / Double(n)
        #expect(meanOn < 70, "mean luma of the box \(meanOn)", sourceLocation: sourceLocation)
        #expect(brightOn > n / 100, "bright text pixels \(brightOn) of \(n)", sourceLocation: sourceLocation)
        #expect(abs(meanOn - meanOff) > 20, "box \(meanOn) vs no overlay \(meanOff)", sourceLocation: sourceLocation)
        // With --overlay off there is no box: the region is not a flat dark area.
        let darkOff = (o.boxY..<(o.boxY + o.boxHeight)).reduce(0) { acc, y in
            acc + (o.boxX..<(o.boxX + o.boxWidth)).filter { off[y * width + $0] < 30 }.count
        }
        #expect(darkOff < n / 4, "dark pixels without the overlay: \(darkOff) of \(n)", sourceLocation: sourceLocation)
        let below = (o.boxY + o.boxHeight + 15) / 16 * 16
        #expect(below < height, sourceLocation: sourceLocation)
        #expect(on[(below * width)...] == off[(below * width)...], "pixels away from the box changed",
                sourceLocation: sourceLocation)
    }

    @Test(arguments: [("yuyv", 320, 180), ("i420", 320, 180), ("yuyv", 1920, 1080), ("i420", 1920, 1080)])
    func syntheticFramesCarryTheOverlayAndOffLeavesThemClean(format: String, width: Int, height: Int) throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let options = ["--size", "\(width)x\(height)", "--fps", "5", "--format", format]
        let on = try Self.recordedLuma(options, storage: dir + "/on")
        let off = try Self.recordedLuma(options + ["--overlay", "off"], storage: dir + "/off")
        try Self.checkOverlay(on: on, off: off, width: width, height: height, format: PixelFormat(rawValue: format)!)
    }

    @Test(arguments: ["yuyv", "i420", "nv12"])
    func replayedFramesCarryTheOverlayAndTheFileIsUntouched(format: String) throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in." + format
        let gen = try TestSupport.run(TestSupport.tool("ffmpeg"), [
            "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:size=320x180:rate=30,noise=alls=20:allf=t", "-frames:v", "10",
            "-pix_fmt", ["yuyv": "yuyv422", "i420": "yuv420p", "nv12": "nv12"][format]!, "-f", "rawvideo", input])
        try #require(gen.status == 0, "\(gen.stderr)")
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        let options = ["--source", input, "--source-format", format, "--size", "320x180"]
        let on = try Self.recordedLuma(options, storage: dir + "/on", index: 3)
        let off = try Self.recordedLuma(options + ["--overlay", "off"], storage: dir + "/off", index: 3)
        try Self.checkOverlay(on: on, off: off, width: 320, height: 180, format: PixelFormat(rawValue: format)!)
        // The mapping is private: stamping frames never writes to the replayed file.
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
        // Replays stay byte-identical run to run.
        let again = try Self.recordedLuma(options, storage: dir + "/again", index: 3)
        #expect(again == on)
        let a = try Data(contentsOf: URL(fileURLWithPath: try #require(TestSupport.segments(in: dir + "/on").first)))
        let b = try Data(contentsOf: URL(fileURLWithPath: try #require(TestSupport.segments(in: dir + "/again").first)))
        #expect(a == b)
    }

    @Test func mjpegPassthroughIsNotRedrawnAndOverlayIsReported() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try TestSupport.bodycam(["run", "--storage", dir, "--boot-time", "0s", "--prerecord", "0s", "--size", "320x180",
                                           "--format", "mjpeg", "--overlay-time", "local", "--records", dir + "/records"],
                                          stdin: "trigger holster\nwait 1s\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.events("camera").first?["overlay"] as? String == "local")
        // The metadata stamp is still on every frame.
        #expect(try TestSupport.stamps(TestSupport.segments(in: dir)).count >= 30)
        let bad = try TestSupport.bodycam(["run", "--overlay", "maybe"])
        #expect(bad.status == 64 && bad.stderr.contains("--overlay"))
    }
}
