@testable import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import BodycamCore

/// Tiny real recordings made once with the binary (160x120, 10 fps, 1 s segments), for the repair and
/// mutation tests.
enum RealRecordings {
    static let made = Result { () throws -> [String] in
        let storage = TestSupport.temporaryDirectory("real-recordings")
        let out = try TestSupport.bodycam(["run", "--strict", "--size", "160x120", "--fps", "10", "--storage", storage,
                                           "--segment-duration", "1s", "--prerecord", "1s"],
                                          stdin: "wait 2s\ndouble record\nwait 2s\nhold record 3s\nquit\n")
        guard out.status == 0 else { throw TestError("the recordings could not be made: \(out.stderr)") }
        let segments = TestSupport.segments(in: storage)
        guard segments.count >= 2 else { throw TestError("expected several segments: \(segments)") }
        return segments
    }
    /// A fixture that could not be made fails the tests that need it; it never traps the test process.
    static var segments: [String] { get throws { try made.get() } }

    static func bytes(_ i: Int) throws -> [UInt8] {
        let all = try segments
        return try FileBytes.contents(all[i % all.count])
    }
    static func frames(_ i: Int) throws -> [[UInt8]] {
        let all = try segments
        let avi = try AVIReader.read(path: all[i % all.count])
        return avi.frames.indices.map { Array(avi.frameBytes($0)) }
    }
}

struct AVIRepairTests {
    static func write(_ bytes: [UInt8], to path: String) {
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    }
    static func contents(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }

    /// A `.part` as a power cut leaves it: opened (placeholder header), `frames` appended, never closed.
    static func unfinished(_ frames: [[UInt8]], in dir: String) throws -> String {
        let writer = AVISegmentWriter(width: 160, height: 120, fps: 10, frameCapacity: 100)
        try writer.open(path: dir + "/seg.avi", directory: dir)
        for f in frames { try f.withUnsafeBytes { try writer.append($0) } }
        writer.abandon()
        return dir + "/seg.avi.part"
    }

    static func append(_ bytes: [UInt8], to path: String) {
        let h = FileHandle(forWritingAtPath: path)!
        h.seekToEndOfFile()
        h.write(Data(bytes))
        h.closeFile()
    }

    static func chunk(_ data: [UInt8]) -> [UInt8] {
        let n = UInt32(data.count)
        return Array("00dc".utf8) + [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)] + data
            + (data.count & 1 == 1 ? [0] : [])
    }

    @Test func aCompleteSegmentStillNamedPartIsRecognisedAndLeftAsIs() throws {
        // A power cut after the final header and index, before the rename: recovery called this
        // "header unreadable" and the camera refused to boot.
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try RealRecordings.bytes(0)
        let path = dir + "/seg.avi.part"
        Self.write(original, to: path)
        let frames = try AVIReader(bytes: original).frames.count
        #expect(try AVIRepair.finish(path: path) == .complete(frames: frames))
        #expect(Self.contents(path) == original)
    }

    @Test func aCutOffLastFrameIsRemovedAndTheRestIndexed() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let frames = try RealRecordings.frames(1)
        let path = try Self.unfinished(Array(frames.prefix(4)), in: dir)
        Self.append(Array(Self.chunk(frames[4]).prefix(300)), to: path) // the last frame only half written
        #expect(try AVIRepair.finish(path: path) == .rebuilt(frames: 4))
        try FileManager.default.moveItem(atPath: path, toPath: dir + "/seg.avi")
        let avi = try TestSupport.checkSegment(dir + "/seg.avi", width: 160, height: 120, fps: 10)
        #expect(avi.frames.count == 4 && avi.indexEntries == 4)
        for i in 0..<4 { #expect(Array(avi.frameBytes(i)) == frames[i]) }
        // Finishing again finds it complete.
        #expect(try AVIRepair.finish(path: dir + "/seg.avi") == .complete(frames: 4))
    }

    @Test func aFrameWithoutEOIEndsWhatIsKept() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let frames = try RealRecordings.frames(1)
        var broken = frames[2]
        broken[broken.count - 1] = 0 // not a whole JPEG
        let path = try Self.unfinished([frames[0], frames[1], broken, frames[3]], in: dir)
        #expect(try AVIRepair.finish(path: path) == .rebuilt(frames: 2))
        #expect(try AVIReader.read(path: path).frames.count == 2)
    }

    @Test func zeroLengthPlaceholdersAreKeptAndIndexed() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let frames = try RealRecordings.frames(1)
        let path = try Self.unfinished([frames[0]], in: dir)
        Self.append(Self.chunk([]) + Self.chunk([]) + Self.chunk(frames[1]) + Self.chunk([]), to: path)
        #expect(try AVIRepair.finish(path: path) == .rebuilt(frames: 2))
        let avi = try AVIReader.read(path: path)
        #expect(avi.frames.count == 2 && avi.timelineEntries == 5 && avi.emptyChunks == [1, 2, 4])
        #expect(avi.indexEntries == 5 && avi.headerFrames == 5 && avi.streamLength == 5)
        #expect(try AVIRepair.finish(path: path) == .complete(frames: 2))
    }

    @Test func aHeaderWithoutWholeFramesIsEmptyAndUntouched() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let frames = try RealRecordings.frames(0)
        let path = try Self.unfinished([], in: dir)
        #expect(try AVIRepair.finish(path: path) == .empty)
        Self.append(Self.chunk([]) + Array(Self.chunk(frames[0]).prefix(100)), to: path)
        let before = Self.contents(path)
        #expect(try AVIRepair.finish(path: path) == .empty)
        #expect(Self.contents(path) == before)
        Self.write([], to: path) // created, power cut before the header reached the disk
        #expect(try AVIRepair.finish(path: path) == .empty)
    }

    @Test func aDamagedHeaderIsATypedFailureAndTheFileIsKept() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let frames = try RealRecordings.frames(0)
        let path = try Self.unfinished(Array(frames.prefix(3)), in: dir)
        let good = Self.contents(path)
        // avih width (offset 64) zero, strh fourcc not MJPG (offset 112), movi LIST moved, no RIFF.
        for (offset, value) in [(64, UInt8(0)), (112, UInt8(ascii: "X")), (2036, UInt8(0)), (0, UInt8(0))] {
            var bad = good
            bad[offset] = value
            if offset == 64 { bad[65] = 0 }
            Self.write(bad, to: path)
            do {
                let outcome = try AVIRepair.finish(path: path)
                Issue.record("offset \(offset): \(outcome)")
            } catch {
                guard case .damagedHeader(let p, _) = error else { Issue.record("offset \(offset): \(error)"); continue }
                #expect(p == path)
            }
            #expect(Self.contents(path) == bad)
        }
        var fast = good
        fast[132] = 0x10; fast[133] = 0x27 // dwRate 10000 fps
        Self.write(fast, to: path)
        #expect(throws: AVIRepair.Failure.damagedHeader(path: path, reason: "frame rate 10000 out of range")) {
            try AVIRepair.finish(path: path)
        }
    }

    @Test func onlyRegularFilesAreRepaired() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = dir + "/real.avi.part"
        Self.write(try RealRecordings.bytes(0), to: target)
        #expect(symlink(target, dir + "/link.avi.part") == 0)
        #expect(mkfifo(dir + "/fifo.avi.part", 0o600) == 0)
        #expect(mkdir(dir + "/dir.avi.part", 0o700) == 0)
        for name in ["link", "fifo", "dir", "missing"] {
            #expect(throws: AVIRepair.Failure.self, "\(name)") { try AVIRepair.finish(path: dir + "/\(name).avi.part") }
            #expect(throws: AVIReader.Failure.self, "\(name)") { try AVIReader.read(path: dir + "/\(name).avi.part") }
        }
    }

    @Test func readerRejectsWhatTrappedIt() throws {
        let good = try RealRecordings.bytes(0)
        // The strl LIST's size (offset 92) larger than the file was trusted.
        var big = good
        big[92] = 0xF0; big[93] = 0xFF; big[94] = 0xFF; big[95] = 0x7F
        #expect(throws: AVIReader.Failure.self) { try AVIReader(bytes: big) }
        // A LIST shorter than its 4-byte type at the end of the file: the type was read past the end.
        let shortList = Array(good.prefix(AVILayout.headerBytes - 12)) + Array("LIST".utf8) + [2, 0, 0, 0, 0x6D, 0x6F]
        #expect(throws: AVIReader.Failure.self) { try AVIReader(bytes: shortList) }
        for cut in [8, 12, 15, 20, 100, 2040, 2044, 2047] {
            #expect(throws: AVIReader.Failure.self, "\(cut)") { try AVIReader(bytes: Array(good.prefix(cut))) }
        }
    }
}
