import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Runs the real `bodycam` binary on synthetic frames and checks what it wrote with ffprobe/ffmpeg and
/// with the per-frame stamps read back from the files.
@Suite(.serialized)
struct FramePathEndToEndTests {
    static let small = ["--size", "320x240", "--fps", "30"]

    @Test func rotationSplitsARecordingWithNoFrameLostOrDuplicated() throws {
        let storage = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        // Boot takes 2 s; the trigger starts at 2 s and the 3 s hold stops at 8 s: 6 s of recording.
        let out = try TestSupport.bodycam(["run"] + Self.small + ["--storage", storage, "--segment-duration", "2s",
                                          "--prerecord", "0s"], stdin: "wait 2s\ntrigger holster\nwait 3s\nhold record 3s\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let segments = TestSupport.segments(in: storage)
        #expect(segments.count == 3)
        var total = 0
        for path in segments {
            let avi = try TestSupport.checkSegment(path, width: 320, height: 240, fps: 30)
            #expect(avi.frames.count == 60)
            total += avi.frames.count
        }
        #expect(total == 180)
        let stamps = try TestSupport.stamps(segments)
        #expect(stamps.map(\.sequence) == Array(0..<180))
        #expect(stamps.map(\.mono) == (0..<180).map { 2 * Nanos.perSecond + Nanos($0) * Nanos.perSecond / 30 })
        #expect(stamps.allSatisfy { $0.deviceID == "BWV-0001" })

        let segmentEvents = out.events("segment")
        #expect(segmentEvents.map { $0["frames"] as? Int } == [60, 60, 60])
        #expect(segmentEvents.map { $0["path"] as? String } == segments)
        let finalized = try #require(out.events("recording").first { $0["action"] as? String == "finalized" })
        #expect(finalized["frames"] as? Int == 180 && finalized["segments"] as? Int == 3)
        #expect(finalized["dropped_frames"] as? Int == 0 && finalized["complete"] as? Bool == true)
        // Names sort in time order and carry the recording id and the UTC start of the segment.
        let names = segments.map { URL(fileURLWithPath: $0).lastPathComponent }
        #expect(names == [
            "20260101T080002.000Z_BWV-0001-000001_001.avi",
            "20260101T080004.000Z_BWV-0001-000001_002.avi",
            "20260101T080006.000Z_BWV-0001-000001_003.avi",
        ])
    }

    @Test func recordingStartsWithThirtySecondsOfPreRecord() throws {
        let storage = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        // Ready from 2 s (boot); double press at 42.0/42.2 s: 40 s of ready. Stop: hold from 44 s to 47 s.
        let out = try TestSupport.bodycam(["run"] + Self.small + ["--storage", storage, "--segment-duration", "20s"],
                                          stdin: "wait 42s\ndouble record\nwait 1.7s\nhold record 3s\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let started = try #require(out.events("recording").first { $0["action"] as? String == "started" })
        #expect(started["prerecord_frames"] as? Int == 900 && started["prerecord_s"] as? Double == 30.0)
        let segments = TestSupport.segments(in: storage)
        #expect(segments.count == 2) // 34.8 s in 20 s segments
        for path in segments { _ = try TestSupport.checkSegment(path, width: 320, height: 240, fps: 30) }
        let stamps = try TestSupport.stamps(segments)
        #expect(stamps.count == 1044) // 12.2 s to 47.0 s at 30 fps
        #expect(stamps.first?.mono == 12_200 * Nanos.perMillisecond) // 30 s before the press at 42.2 s
        #expect(stamps.first.map { UTC.iso($0.utc) } == "2026-01-01T08:00:12.200Z")
        #expect(stamps.last?.mono == 2 * Nanos.perSecond + 1349 * Nanos.perSecond / 30) // the last frame before 47 s
        let seqs = stamps.map(\.sequence)
        let first = try #require(seqs.first)
        #expect(seqs == Array(first..<(first + UInt64(seqs.count))))
    }

    @Test func segmentsRotateAtTheByteLimit() throws {
        let storage = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let out = try TestSupport.bodycam(["run"] + Self.small + ["--storage", storage, "--segment-bytes", "1048576",
                                          "--prerecord", "0s"], stdin: "wait 2s\ntrigger taser\nwait 7s\nhold record 3s\n")
        #expect(out.status == 0, "\(out.stderr)")
        let segments = TestSupport.segments(in: storage)
        #expect(segments.count >= 3)
        for path in segments {
            let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
            #expect(size <= 1_048_576)
            _ = try TestSupport.checkSegment(path, width: 320, height: 240, fps: 30)
        }
        #expect(try TestSupport.stamps(segments).map(\.sequence) == Array(0..<300))
    }

    @Test func sameSeedAndSettingsGiveByteIdenticalRecordings() throws {
        let a = TestSupport.temporaryDirectory("a"), b = TestSupport.temporaryDirectory("b"), c = TestSupport.temporaryDirectory("c")
        defer { for d in [a, b, c] { try? FileManager.default.removeItem(atPath: d) } }
        let args = ["run"] + Self.small + ["--segment-duration", "3s"]
        for (dir, seed) in [(a, "5"), (b, "5"), (c, "6")] {
            // Pre-record from 2 s (boot), trigger at 5 s, stop at 9 s: 7 s in 3 s segments.
            let out = try TestSupport.bodycam(args + ["--storage", dir, "--seed", seed],
                                              stdin: "wait 5s\ntrigger lightbar\nwait 1s\nhold record 3s\nquit\n")
            #expect(out.status == 0, "\(out.stderr)")
        }
        func files(_ dir: String) throws -> [(String, Data)] {
            try TestSupport.segments(in: dir).map { (URL(fileURLWithPath: $0).lastPathComponent, try Data(contentsOf: URL(fileURLWithPath: $0))) }
        }
        let fa = try files(a), fb = try files(b), fc = try files(c)
        #expect(fa.count == 3)
        #expect(fa.map(\.0) == fb.map(\.0) && fa.map(\.1) == fb.map(\.1))
        #expect(fa.map(\.1) != fc.map(\.1)) // the seed matters
    }

    @Test func realTimeClockPacesFramesAtTheirRate() throws {
        let storage = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let started = Date()
        let out = try TestSupport.bodycam(["run"] + Self.small + ["--storage", storage, "--clock", "real", "--prerecord", "0s"],
                                          stdin: "wait 2s\ntrigger holster\nwait 2s\nquit\n")
        let elapsed = Date().timeIntervalSince(started)
        #expect(out.status == 0, "\(out.stderr)")
        #expect(elapsed >= 3.9, "2 s of boot and a 2 s recording in real time took \(elapsed) s")
        #expect(out.events("camera").first?["clock"] as? String == "real")
        let segments = TestSupport.segments(in: storage)
        let avi = try TestSupport.checkSegment(try #require(segments.first), width: 320, height: 240, fps: 30)
        #expect(avi.frames.count >= 58 && avi.frames.count <= 61)
    }

    @Test(arguments: ["yuyv", "nv12", "mjpeg"])
    func aFileReplaysThroughTheFramePathFrameForFrame(format: String) throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in." + format
        let encode = format == "mjpeg" ? ["-c:v", "mjpeg", "-q:v", "3", "-f", "mjpeg"]
                                       : ["-pix_fmt", format == "yuyv" ? "yuyv422" : "nv12", "-f", "rawvideo"]
        let gen = try TestSupport.run(TestSupport.tool("ffmpeg"), ["-v", "error", "-y", "-f", "lavfi", "-i",
                                                                    "testsrc2=size=320x240:rate=30,noise=alls=14:allf=t", "-frames:v", "45"] + encode + [input])
        #expect(gen.status == 0, "\(gen.stderr)")
        // The longest segments allowed (as `make bench` uses): their storage estimate once overflowed.
        let out = try TestSupport.bodycam(["run", "--source", input, "--source-format", format, "--size", "320x240",
                                           "--boot-time", "0s", "--prerecord", "0s", "--segment-duration", "4h",
                                           "--storage", dir + "/s", "--records", dir + "/r"],
                                          stdin: "trigger holster\nwait 1h\n")
        #expect(out.status == 0, "\(out.stderr)")
        let segments = TestSupport.segments(in: dir + "/s")
        let avi = try TestSupport.checkSegment(try #require(segments.first), width: 320, height: 240, fps: 30)
        #expect(avi.frames.count == 45) // every frame of the file, and the run ends with it
        #expect(try TestSupport.stamps(segments).map(\.sequence) == Array(0..<45))
    }

    @Test(arguments: ["i420", "mjpeg"])
    func otherSourceFormatsRecordPlayableSegments(format: String) throws {
        let storage = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let out = try TestSupport.bodycam(["run"] + Self.small + ["--storage", storage, "--format", format],
                                          stdin: "wait 4s\ntrigger holster\nhold record 3s\n")
        #expect(out.status == 0, "\(out.stderr)")
        let segments = TestSupport.segments(in: storage)
        #expect(segments.count == 1)
        let avi = try TestSupport.checkSegment(try #require(segments.first), width: 320, height: 240, fps: 30)
        #expect(avi.frames.count == 150) // 2 s of pre-record, 3 s until the hold stops it
        #expect(try TestSupport.stamps(segments).map(\.sequence) == Array(0..<150))
    }

    @Test func residentMemoryStaysFlatOverTenMinutesOfRecording() throws {
        let storage = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let out = try TestSupport.bodycam(["run"] + Self.small + ["--storage", storage, "--stats-every", "60s",
                                          "--prerecord", "0s"], stdin: "wait 2s\ntrigger holster\nwait 10m\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let stats = out.events("stats")
        let rss = stats.compactMap { $0["rss_bytes"] as? Int }
        #expect(rss.count == 11) // minutes 1...10 and the final one
        let arena = try #require(out.events("camera").first?["prerecord_bytes"] as? Int)
        // After the first two minutes (pools touched, first segments written) nothing grows.
        let growth = try #require(rss.last) - rss[1]
        #expect(growth < 1 << 20, "RSS grew \(growth) bytes between minute 2 and the end: \(rss)")
        #expect(rss.max()! < arena + 48 << 20)
        let last = try #require(stats.last)
        #expect(last["frames_written"] as? Int == 18_000)
        #expect(last["dropped_ring_full"] as? Int == 0 && last["encoder_heap_fallbacks"] as? Int == 0)
    }

    @Test(arguments: [
        (["--size", "321x240"], "even"),
        (["--fps", "0"], "fps"),
        (["--prerecord", "121s"], "pre-record"),
        (["--segment-bytes", "2000000000"], "1 GiB"),
        (["--utc-start", "yesterday"], "utc-start"),
        (["--device-id", "a b"], "device id"),
        (["--prerecord", "soon"], "prerecord"),
        (["--battery", "101"], "battery"),
        (["--offload-rate", "100000000000"], "offload-rate"),
        (["--dock-clock-offset=soon"], "dock-clock-offset"),
        (["--prerecord-bytes", "9223372036854775807"], "more than half of this machine's memory"),
        (["--fps", "240", "--size", "8192x8192"], "lower --prerecord, --fps or --size"),
        (["--script", "/nonexistent/script"], "script"),
        (["--camera", "/dev/nonexistent-video"], "/dev/nonexistent-video: cannot open: No such file"),
        (["--camera", "/etc/hostname"], "/etc/hostname: cannot open: Inappropriate ioctl"),
    ])
    func badOptionsGiveOneClearErrorAndANonZeroExit(arguments: [String], mentions: String) throws {
        let out = try TestSupport.bodycam(["run", "--storage", TestSupport.temporaryDirectory()] + arguments, stdin: "quit\n")
        #expect(out.status != 0)
        #expect(out.stderr.contains(mentions), "\(out.stderr)")
        #expect(out.stderr.filter { $0 == "\n" }.count == 1, "not one line: \(out.stderr)")
        #expect(out.stdout.isEmpty)
    }
}
