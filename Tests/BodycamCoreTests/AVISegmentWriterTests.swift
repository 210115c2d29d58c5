import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

struct AVISegmentWriterTests {
    @Test func segmentRoundTripsThroughOurReaderAndFFprobe() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = try JPEGMarkerTests.sampleJPEG()
        let writer = AVISegmentWriter(width: 64, height: 48, fps: 25, frameCapacity: 10)
        let path = dir + "/seg.avi"
        try writer.open(path: path, directory: dir)
        #expect(FileManager.default.fileExists(atPath: path + ".part") && !FileManager.default.fileExists(atPath: path))
        var frames: [[UInt8]] = []
        for i in 0..<7 {
            // Odd and even lengths: chunks must be padded to even sizes.
            let frame = i % 2 == 0 ? base : base + [0]
            frames.append(frame)
            try frame.withUnsafeBytes { try writer.append($0) }
        }
        let closed = try writer.close()
        #expect(closed.path == path)
        #expect(!FileManager.default.fileExists(atPath: path + ".part"))
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == closed.bytes)

        let avi = try TestSupport.checkSegment(path, width: 64, height: 48, fps: 25)
        #expect(avi.frames.count == 7 && avi.indexEntries == 7)
        for i in 0..<7 { #expect(Array(avi.frameBytes(i)) == frames[i]) }
    }

    @Test func canAppendStopsAtTheIndexCapacityAndTheByteLimit() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let jpeg = try JPEGMarkerTests.sampleJPEG()
        let writer = AVISegmentWriter(width: 64, height: 48, fps: 25, frameCapacity: 3)
        try writer.open(path: dir + "/a.avi", directory: dir)
        for _ in 0..<3 {
            #expect(writer.canAppend(jpeg.count, maxFileBytes: 1 << 20))
            try jpeg.withUnsafeBytes { try writer.append($0) }
        }
        #expect(!writer.canAppend(jpeg.count, maxFileBytes: 1 << 20))
        let limit = writer.projectedFileBytes
        _ = try writer.close()
        try writer.open(path: dir + "/b.avi", directory: dir)
        #expect(writer.canAppend(jpeg.count, maxFileBytes: limit))
        #expect(!writer.canAppend(jpeg.count, maxFileBytes: AVILayout.headerBytes + 100))
        _ = try writer.close()
    }

    @Test func anExistingFileIsNeverOverwritten() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/x.avi.part", contents: Data([1, 2, 3]))
        let writer = AVISegmentWriter(width: 64, height: 48, fps: 25, frameCapacity: 3)
        #expect(throws: IOError.self) { try writer.open(path: dir + "/x.avi", directory: dir) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/x.avi.part")) == Data([1, 2, 3]))
    }

    @Test func corruptFilesAreReportedNotTrapped() throws {
        #expect(throws: AVIReader.Failure.self) { try AVIReader(bytes: []) }
        #expect(throws: AVIReader.Failure.self) { try AVIReader(bytes: Array("RIFF\u{10}\0\0\0AVI LIST".utf8)) }
        #expect(throws: AVIReader.Failure.self) { try AVIReader.read(path: "/nonexistent/file.avi") }
    }
}
