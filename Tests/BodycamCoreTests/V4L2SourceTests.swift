import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// A V4L2 device in memory, behind the same seam as the real one: it streams frames from a list,
/// injects errno values on chosen calls, and records every call.
final class SimulatedV4L2: V4L2Device {
    var formats: [UInt32] = [FourCC.yuyv]
    var capture = true
    var width = 64, height = 48
    var calls: [String] = []
    /// Errors to return, in order, for a call name ("poll", "dqbuf", "qbuf", "streamon", ...).
    var inject: [String: [Int32]] = [:]
    /// Frames to deliver: sequence number, damaged flag; timestamps are 1/30 s apart from `epoch`.
    var frames: [(sequence: UInt32, damaged: Bool)] = (0..<10).map { (UInt32($0), false) }
    var epoch: Int64 = 5_000_000_000
    var silent = false
    private var delivered = 0
    private var queued: [UInt32] = []
    private var memory: [UnsafeMutableRawPointer] = []
    var bufferBytes: Int { width * height * 2 }

    deinit { memory.forEach { $0.deallocate() } }

    private func fault(_ call: String) -> Errno? {
        calls.append(call)
        guard var list = inject[call], !list.isEmpty else { return nil }
        let e = list.removeFirst()
        inject[call] = list
        return Errno(e)
    }

    func open(_ path: String) -> Result<Int32, Errno> { fault("open").map { .failure($0) } ?? .success(42) }
    func close(_ fd: Int32) { calls.append("close") }
    func capabilities(_ fd: Int32) -> Result<V4L2Capabilities, Errno> {
        fault("querycap").map { .failure($0) }
            ?? .success(V4L2Capabilities(driver: "sim", card: "Simulated", bus: "test", canCapture: capture, canStream: true))
    }
    func format(_ fd: Int32, index: UInt32) -> Result<(fourcc: UInt32, description: String), Errno> {
        Int(index) < formats.count ? .success((formats[Int(index)], "fmt")) : .failure(Errno(EINVAL))
    }
    func size(_ fd: Int32, fourcc: UInt32, index: UInt32) -> Result<(width: Int, height: Int, isRange: Bool), Errno> {
        index == 0 ? .success((width, height, false)) : .failure(Errno(EINVAL))
    }
    func interval(_ fd: Int32, fourcc: UInt32, width: Int, height: Int, index: UInt32) -> Result<(num: Int, den: Int), Errno> {
        index == 0 ? .success((1, 30)) : .failure(Errno(EINVAL))
    }
    func setFormat(_ fd: Int32, fourcc: UInt32, width: Int, height: Int) -> Result<V4L2Format, Errno> {
        if let e = fault("s_fmt") { return .failure(e) }
        return .success(V4L2Format(fourcc: fourcc, width: self.width, height: self.height, bytesPerLine: self.width * 2,
                                   sizeImage: bufferBytes))
    }
    func setInterval(_ fd: Int32, num: Int, den: Int) -> Result<(num: Int, den: Int), Errno> {
        calls.append("s_parm")
        return .success((1, 30))
    }
    func requestBuffers(_ fd: Int32, count: UInt32) -> Result<UInt32, Errno> {
        if let e = fault("reqbufs(\(count))") { return .failure(e) }
        return .success(count)
    }
    func queryBuffer(_ fd: Int32, index: UInt32) -> Result<(offset: UInt32, length: Int), Errno> {
        calls.append("querybuf")
        return .success((index * 4096, bufferBytes))
    }
    func map(_ fd: Int32, offset: UInt32, length: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        calls.append("mmap")
        let p = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0x80, count: length)
        memory.append(p)
        return .success(p)
    }
    func unmap(_ address: UnsafeMutableRawPointer, length: Int) { calls.append("munmap") }
    func queue(_ fd: Int32, index: UInt32) -> Result<Void, Errno> {
        if let e = fault("qbuf") { return .failure(e) }
        queued.append(index)
        return .success(())
    }
    func dequeue(_ fd: Int32) -> Result<V4L2Buffer, Errno> {
        if let e = fault("dqbuf") { return .failure(e) }
        guard delivered < frames.count, !queued.isEmpty else { return .failure(Errno(EAGAIN)) }
        let f = frames[delivered]
        let index = queued.removeFirst()
        let b = V4L2Buffer(index: index, bytesUsed: bufferBytes, sequence: f.sequence,
                           timestampNanos: epoch + Int64(delivered) * 33_333_333, damaged: f.damaged)
        delivered += 1
        return .success(b)
    }
    func stream(_ fd: Int32, on: Bool) -> Result<Void, Errno> {
        fault(on ? "streamon" : "streamoff").map { .failure($0) } ?? .success(())
    }
    func poll(_ fd: Int32, timeoutMilliseconds: Int32) -> Result<Bool, Errno> {
        if let e = fault("poll") { return .failure(e) }
        return .success(!silent && delivered < frames.count)
    }
}

struct V4L2SourceTests {
    static func source(_ sim: SimulatedV4L2, format: PixelFormat? = nil) throws -> V4L2Source {
        try V4L2Source(path: "/dev/sim", request: .init(width: 64, height: 48, fps: 30, format: format),
                       clock: VirtualClock(), device: sim)
    }

    /// Takes every frame the simulated device has.
    static func drain(_ s: V4L2Source, max: Int = 100) throws -> [CapturedFrame] {
        var out: [CapturedFrame] = []
        while out.count < max {
            do {
                guard let f = try s.nextFrame() else { break }
                out.append(f)
                s.releaseFrame(f)
            } catch {
                guard error.description.contains("no frame") else { throw error }
                break
            }
        }
        return out
    }

    @Test func followsTheMmapStreamingLifecycle() throws {
        let sim = SimulatedV4L2()
        sim.frames = [(0, false), (1, false)]
        let s = try Self.source(sim)
        try s.start()
        sim.silent = false
        let f = try #require(try s.nextFrame())
        s.releaseFrame(f)
        s.stop()
        #expect(f.bytes.count == 64 * 48 * 2 && f.sequence == 0)
        #expect(sim.calls == ["open", "querycap", "s_fmt", "s_parm", "reqbufs(4)",
                              "querybuf", "mmap", "qbuf", "querybuf", "mmap", "qbuf", "querybuf", "mmap", "qbuf",
                              "querybuf", "mmap", "qbuf", "streamon", "poll", "dqbuf", "qbuf",
                              "streamoff", "munmap", "munmap", "munmap", "munmap", "reqbufs(0)", "close"])
    }

    @Test func eintrAndEagainAreRetriedWithoutLosingAFrame() throws {
        let sim = SimulatedV4L2()
        sim.inject = ["poll": [EINTR, EINTR], "dqbuf": [EAGAIN, EINTR], "qbuf": []]
        let s = try Self.source(sim)
        try s.start()
        sim.inject["qbuf"] = [EINTR] // the first release is interrupted, and retried
        let frames = try Self.drain(s)
        #expect(frames.map(\.sequence) == Array(0..<10))
    }

    @Test func damagedBuffersAndSequenceGapsAreReportedForCounting() throws {
        let sim = SimulatedV4L2()
        sim.frames = [(0, false), (1, true), (2, false), (5, false), (6, false)]
        let s = try Self.source(sim)
        try s.start()
        let frames = try Self.drain(s)
        #expect(frames.map(\.isDamaged) == [false, true, false, false, false])
        #expect(frames.map(\.sequence) == [0, 1, 2, 5, 6]) // the frame path counts 3 and 4 as dropped
    }

    @Test func theFramePathCountsDamagedAndMissingFrames() throws {
        let sim = SimulatedV4L2()
        sim.frames = [(0, false), (1, true), (2, false), (5, false), (6, false)]
        let s = try Self.source(sim)
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let recorder = Recorder(settings: RecorderTests.settings(dir, backPressure: .drop, arenaBytes: 1 << 20), events: CollectingSink())
        defer { recorder.finish() }
        let path = try #require(FramePath(source: s, recorder: recorder, deviceID: "T-1", quality: 85, utc: UTCMapping(utcAtZero: 0)))
        try path.startCapture()
        while (try? path.step()) != nil {}
        #expect(path.counters.damaged == 1 && path.counters.sourceGaps == 2 && path.counters.stored == 4)
    }

    @Test func sequenceNumbersKeepCountingPastTheDriversWrap() throws {
        let sim = SimulatedV4L2()
        sim.frames = [(UInt32.max - 1, false), (UInt32.max, false), (0, false), (1, false)]
        let s = try Self.source(sim)
        try s.start()
        let seqs = try Self.drain(s).map(\.sequence)
        let base = UInt64(UInt32.max) - 1
        #expect(seqs == [base, base + 1, base + 2, base + 3])
    }

    @Test func timestampsAreTheBuffersMonotonicTime() throws {
        let sim = SimulatedV4L2()
        sim.frames = [(0, false), (1, false)]
        let clock = MonotonicClock()
        sim.epoch = clock.origin + 7 * Nanos.perSecond
        let s = try V4L2Source(path: "/dev/sim", request: .init(width: 64, height: 48, fps: 30), clock: clock, device: sim)
        try s.start()
        let frames = try Self.drain(s)
        #expect(frames.map(\.mono) == [7 * Nanos.perSecond, 7 * Nanos.perSecond + 33_333_333])
    }

    @Test(arguments: [(ENODEV, "dqbuf"), (EIO, "dqbuf"), (ENODEV, "poll")])
    func aVanishedDeviceIsReportedAsLost(errno: Int32, call: String) throws {
        let sim = SimulatedV4L2()
        let s = try Self.source(sim)
        try s.start()
        sim.inject = [call: [errno]]
        // Which error, not only its type: lost (so the runtime reopens), naming the device and errno.
        let expected = "/dev/sim: " + String(cString: strerror(errno)) + " (errno \(errno))"
        #expect(throws: FrameSourceError.deviceLost(expected)) { _ = try s.nextFrame() }
        do { _ = try s.nextFrame() } catch {} // the device stays usable for the test's cleanup
    }

    @Test func aSilentDeviceIsLostAfterTwoSeconds() throws {
        let sim = SimulatedV4L2()
        let s = try Self.source(sim)
        try s.start()
        sim.silent = true
        do {
            _ = try s.nextFrame()
            Issue.record("a silent device gave a frame")
        } catch {
            #expect(error == .deviceLost("/dev/sim: no frame for 2 s"))
        }
    }

    @Test func aFailedStreamOnIsALossToRetryNotAUserError() throws {
        let sim = SimulatedV4L2()
        sim.inject = ["streamon": [EIO]]
        let s = try Self.source(sim)
        #expect(throws: FrameSourceError.deviceLost("/dev/sim: STREAMON: " + String(cString: strerror(EIO)) + " (errno \(EIO))")) {
            try s.start()
        }
        #expect(sim.calls.suffix(2) == ["reqbufs(0)", "close"]) // cleaned up
        try s.start() // reopened and streaming
        #expect(try s.nextFrame() != nil)
    }

    @Test func negotiationPrefersMJPEGThenYUYVThenI420ThenNV12AndExplainsRefusals() throws {
        let both = SimulatedV4L2()
        both.formats = [FourCC.yuyv, FourCC.mjpeg]
        #expect(try Self.source(both).geometry.format == .mjpeg)
        let raw = SimulatedV4L2()
        raw.formats = [FourCC.make("RGB3"), FourCC.i420, FourCC.yuyv]
        #expect(try Self.source(raw).geometry.format == .yuyv)
        #expect(try Self.source(raw, format: .i420).geometry.format == .i420)
        let semiPlanar = SimulatedV4L2()
        semiPlanar.formats = [FourCC.make("RGB3"), FourCC.nv12]
        #expect(try Self.source(semiPlanar).geometry.format == .nv12)
        let odd = SimulatedV4L2()
        odd.formats = [FourCC.make("RGB3"), FourCC.make("BGR4")]
        do {
            _ = try Self.source(odd)
            Issue.record("an unusable camera was accepted")
        } catch {
            #expect("\(error)".contains("offers RGB3, BGR4") && "\(error)".contains("MJPG"))
        }
        let output = SimulatedV4L2()
        output.capture = false
        #expect(throws: FrameSourceError.unusable("/dev/sim (Simulated): not a video capture device with streaming I/O")) {
            _ = try Self.source(output)
        }
    }
}
