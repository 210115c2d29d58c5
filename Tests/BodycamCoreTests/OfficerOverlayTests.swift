import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// End to end: once the records service checks the camera out to an officer (`assign` at the dock), the officer
/// is burnt into the recorded pictures (the overlay's third line), and before that the line is empty. The real
/// camera and service binaries; the frames decoded by libjpeg's djpeg.
@Suite(.serialized)
struct OfficerOverlayTests {
    static let size = (width: 320, height: 180)

    /// The luma of the first recorded frame of a camera that docks, is assigned `officer` (or nobody), undocks and
    /// records a second.
    static func firstFrame(_ server: RecordsServer, device: String, officer: String?) throws -> [UInt8] {
        let storage = TestSupport.temporaryDirectory("officer-overlay")
        let assign = officer.map { "assign \($0)\nexpect officer \($0)\n" } ?? "expect officer null\n"
        let out = try TestSupport.bodycam(
            ["run", "--storage", storage, "--device-id", device, "--records", server.url, "--enrol-token", try server.enrolmentToken(device),
             "--size", "\(size.width)x\(size.height)", "--fps", "5", "--boot-time", "0s", "--prerecord", "0s", "--strict"],
            stdin: "dock\nwait 2s\n\(assign)undock\nwait 1s\ntrigger holster\nwait 1s\nhold record 3s\nquit\n")
        try #require(out.status == 0, "\(out.stderr)")
        let segment = try #require(TestSupport.segments(in: storage).first)
        let avi = try AVIReader.read(path: segment)
        try #require(!avi.frames.isEmpty)
        // The metadata stamp says the same.
        let stamp = try #require(TestSupport.stamps([segment]).first)
        #expect(stamp.officer == officer, "\(stamp)")
        let luma = try JPEGEncoderTests.decodeLumaWithLibjpeg(Array(avi.frameBytes(0)))
        try? FileManager.default.removeItem(atPath: storage)
        return luma
    }

    /// Bright (text) pixels in the officer's line of the box: the third of its three 9-row text lines.
    static func brightPixelsInOfficerLine(_ luma: [UInt8]) throws -> Int {
        let o = try #require(FrameOverlay(geometry: FrameGeometry(width: size.width, height: size.height, format: .yuyv)))
        try #require(luma.count == size.width * size.height)
        let padding = 2 * o.scale
        let top = o.boxY + padding + 2 * 9 * o.scale
        var bright = 0
        for y in top..<(top + 7 * o.scale) {
            for x in (o.boxX + padding)..<(o.boxX + o.boxWidth - padding) where luma[y * size.width + x] > 180 { bright += 1 }
        }
        return bright
    }

    @Test func theAssignedOfficerIsBurntIntoTheFramesAndNobodyBefore() throws {
        let server = try RecordsServer()
        #expect(try server.admin(["officer", "add", "PC-4711", "--name", "Officer", "--trained"]).status == 0)
        let assigned = try Self.brightPixelsInOfficerLine(try Self.firstFrame(server, device: "BWV-0081", officer: "PC-4711"))
        let unassigned = try Self.brightPixelsInOfficerLine(try Self.firstFrame(server, device: "BWV-0082", officer: nil))
        // "OFFICER PC-4711": 15 glyphs of a 5x7 font, about a third of whose pixels are lit.
        #expect(assigned > 100, "bright pixels in the officer line when assigned: \(assigned)")
        #expect(unassigned < 5, "bright pixels in the officer line when not assigned: \(unassigned)")
    }
}
