import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// `--encoders N`: several workers encode raw frames at once, and nothing a recording holds may depend
/// on how many there were.
@Suite(.serialized)
struct ParallelEncodingTests {
    /// Pre-record, a card that stalls until the ring is full (frames dropped after later ones were already
    /// stamped, so those are renumbered), damaged frames, a marker, segment rotation, a second recording.
    static let script = """
        wait 3s
        double record
        wait 2s
        fault disk-stall
        wait 4s
        fault disk-resume
        wait 2s
        fault corrupt-frames 5
        marker
        wait 3s
        hold record 3s
        wait 2s
        trigger taser
        wait 4s
        quit

        """

    /// Every line of stdout, without what differs between any two runs (free space, resident memory) or
    /// says how the run was set up (the worker count).
    static func comparableEvents(_ out: TestSupport.Output) -> [String] {
        let varying: Set<String> = ["storage_free", "free_bytes", "capacity_bytes", "storage_capacity", "rss_bytes",
                                    "storage", "path", "encoders", "encoder_bytes"]
        return out.events.map { event in
            event.filter { !varying.contains($0.key) }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
    }

    @Test(arguments: ["yuyv", "i420"])
    func recordingsAreByteIdenticalWhateverTheWorkerCount(format: String) throws {
        var runs: [(segments: [(String, Data)], manifests: [Data], events: [String], stats: [String: Any])] = []
        for workers in [1, 2, 3, 5] {
            let dir = TestSupport.temporaryDirectory("enc\(workers)")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let out = try TestSupport.bodycam(["run", "--size", "320x240", "--format", format, "--noise", "24",
                                               "--prerecord", "5s", "--prerecord-bytes", "2000000", "--segment-duration", "4s",
                                               "--encoders", "\(workers)", "--storage", dir + "/s", "--records", dir + "/r"],
                                              stdin: Self.script)
            #expect(out.status == 0, "\(out.stderr)")
            #expect(out.events("camera").first?["encoders"] as? Int == workers)
            let segments = TestSupport.segments(in: dir + "/s")
            let manifests = try FileManager.default.contentsOfDirectory(atPath: dir + "/s/recordings")
                .filter { $0.hasSuffix(".manifest.json") }.sorted()
                .map { try Data(contentsOf: URL(fileURLWithPath: dir + "/s/recordings/" + $0)) }
            runs.append((try segments.map { (URL(fileURLWithPath: $0).lastPathComponent, try Data(contentsOf: URL(fileURLWithPath: $0))) },
                         manifests, Self.comparableEvents(out), try #require(out.events("stats").last)))
            if workers == 2 {
                // An independent decoder reads what the workers made, and the first recording's frames are
                // numbered without a gap although some were dropped (the stall) after later ones had been
                // stamped. (Between recordings, pre-record frames evicted unrecorded leave gaps.)
                for path in segments { _ = try TestSupport.checkSegment(path, width: 320, height: 240, fps: 30) }
                let seqs = try TestSupport.stamps(segments.filter { $0.contains("-000001_") }).map(\.sequence)
                #expect(seqs.count > 300 && seqs == Array(0..<UInt64(seqs.count)))
            }
        }
        let first = runs[0]
        #expect(first.segments.count == 6)
        #expect(first.stats["dropped_ring_full"] as? Int ?? 0 > 0, "the stall must fill the ring for this test to mean anything")
        #expect(first.stats["dropped_damaged"] as? Int == 5)
        for run in runs.dropFirst() {
            #expect(run.segments.map(\.0) == first.segments.map(\.0))
            #expect(run.segments.map(\.1) == first.segments.map(\.1))
            #expect(run.manifests == first.manifests)
            #expect(run.events == first.events)
            #expect(run.stats["dropped_encoders_busy"] as? Int == 0) // the virtual clock waits for a worker
        }
    }

    /// A replayed file ends with frames still with the workers: they are stored too (every frame of the
    /// file), and the file's pages given back while others are in flight never undo a frame's overlay.
    @Test(arguments: ["yuyv", "nv12"])
    func aReplayedFileEndsWithEveryFrameWhateverTheWorkerCount(format: String) throws {
        let dir = TestSupport.temporaryDirectory("replay")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in." + format
        let gen = try TestSupport.run(TestSupport.tool("ffmpeg"), ["-v", "error", "-y", "-f", "lavfi", "-i",
                                                                    "testsrc2=size=320x240:rate=30,noise=alls=20:allf=t", "-frames:v", "47",
                                                                    "-pix_fmt", format == "yuyv" ? "yuyv422" : "nv12", "-f", "rawvideo", input])
        try #require(gen.status == 0, "\(gen.stderr)")
        var recordings: [Data] = []
        for workers in [1, 3, 8] {
            let out = try TestSupport.bodycam(["run", "--source", input, "--source-format", format, "--size", "320x240",
                                               "--boot-time", "0s", "--prerecord", "0s", "--encoders", "\(workers)",
                                               "--storage", dir + "/s\(workers)", "--records", dir + "/r"],
                                              stdin: "trigger holster\nwait 1h\n")
            #expect(out.status == 0, "\(out.stderr)")
            let segment = try #require(TestSupport.segments(in: dir + "/s\(workers)").first)
            #expect(try TestSupport.stamps([segment]).map(\.sequence) == Array(0..<47))
            recordings.append(try Data(contentsOf: URL(fileURLWithPath: segment)))
        }
        #expect(recordings[1] == recordings[0] && recordings[2] == recordings[0])
    }

    /// The synthetic source, seen as a source whose frames may not be written to (the overlay then draws
    /// on each slot's own copy), and/or one that cuts every `shortEvery`th frame short (as a driver's
    /// `bytesused` can), which the encoder refuses.
    final class AwkwardSource: FrameSource {
        let inner: SyntheticSource
        let readOnly: Bool
        let shortEvery: Int?
        private var n = 0
        init(_ inner: SyntheticSource, readOnly: Bool, shortEvery: Int?) {
            self.inner = inner
            self.readOnly = readOnly
            self.shortEvery = shortEvery
        }
        var geometry: FrameGeometry { inner.geometry }
        var frameInterval: Nanos { inner.frameInterval }
        var nextFrameDue: Nanos? { inner.nextFrameDue }
        var framesOutLimit: Int { inner.framesOutLimit }
        var framesAreWritable: Bool { !readOnly }
        func start() throws(FrameSourceError) { try inner.start() }
        func nextFrame() throws(FrameSourceError) -> CapturedFrame? {
            guard var f = try inner.nextFrame() else { return nil }
            n += 1
            if let k = shortEvery, n % k == 0 { f.bytes = UnsafeRawBufferPointer(rebasing: f.bytes[0..<(f.bytes.count / 2)]) }
            return f
        }
        func releaseFrame(_ frame: CapturedFrame) { inner.releaseFrame(frame) }
        func stop() { inner.stop() }
    }

    static func record(encoders: Int, readOnly: Bool = false, shortEvery: Int? = nil) throws -> (segments: [Data], stats: Event) {
        let clock = VirtualClock()
        let utc = UTCMapping(utcAtZero: CameraSettings.virtualClockStart)
        let s = try #require(SyntheticSource(width: 160, height: 120, fps: 30, format: .yuyv, seed: 1, clock: clock, utc: utc,
                                             drawsLabel: false, framesOut: encoders + 2))
        let run = try RuntimeTests.run("wait 3s\ntrigger holster\nwait 3s\nquit\n", clock: clock,
                                       source: AwkwardSource(s, readOnly: readOnly, shortEvery: shortEvery)) {
            $0.encoders = encoders
        }
        defer { try? FileManager.default.removeItem(atPath: run.storage) }
        let segments = try TestSupport.segments(in: run.storage).map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        return (segments, try #require(run.events("stats").last))
    }

    @Test func readOnlyFramesAreCopiedPerSlotAndComeOutTheSame() throws {
        let reference = try Self.record(encoders: 1)
        #expect(reference.segments.count == 1)
        #expect(try Self.record(encoders: 3, readOnly: true).segments == reference.segments)
        #expect(try Self.record(encoders: 1, readOnly: true).segments == reference.segments)
    }

    /// A frame the encoder refuses is dropped after the frames behind it were stamped with the numbers
    /// that assumed it would be stored: they are renumbered, and the recording is the one a single
    /// encoder makes, numbered without a gap.
    @Test func framesBehindARefusedFrameAreRenumbered() throws {
        let one = try Self.record(encoders: 1, shortEvery: 7)
        #expect(RuntimeTests.int(one.stats, "dropped_encode_error") ?? 0 > 10)
        for workers in [2, 4] {
            let many = try Self.record(encoders: workers, shortEvery: 7)
            #expect(many.segments == one.segments)
            #expect(RuntimeTests.int(many.stats, "dropped_encode_error") == RuntimeTests.int(one.stats, "dropped_encode_error"))
        }
        let dir = TestSupport.temporaryDirectory("renumbered")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try one.segments[0].write(to: URL(fileURLWithPath: dir + "/a.avi"))
        _ = try TestSupport.checkSegment(dir + "/a.avi", width: 160, height: 120, fps: 30)
        let seqs = try TestSupport.stamps([dir + "/a.avi"]).map(\.sequence)
        let first = try #require(seqs.first)
        #expect(seqs.count > 100 && seqs == Array(first..<(first + UInt64(seqs.count))))
    }

    /// Real clock, frames coming faster than two workers can encode them: capture does not wait, the
    /// frames that find every worker busy are dropped and counted, every frame captured is accounted
    /// for, and the recording is still numbered without a gap and readable by ffprobe.
    @Test func realClockDropsAndCountsFramesWhenEveryWorkerIsBusy() throws {
        let dir = TestSupport.temporaryDirectory("busy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = try TestSupport.bodycam(["run", "--clock", "real", "--size", "1920x1080", "--fps", "240", "--noise", "30",
                                           "--prerecord", "0s", "--encoders", "2", "--storage", dir + "/s", "--records", dir + "/r"],
                                          stdin: "wait 2s\ntrigger holster\nwait 1s\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let stats = try #require(out.events("stats").last)
        func n(_ key: String) -> Int { stats[key] as? Int ?? -1 }
        #expect(n("dropped_encoders_busy") > 0, "240 frames a second of noisy 1080p outrun two encoders")
        let dropped = ["dropped_ring_full", "dropped_too_large", "dropped_encode_error", "dropped_invalid_jpeg", "dropped_damaged",
                       "dropped_encoders_busy"].map(n).reduce(0, +)
        #expect(n("frames_captured") == n("frames_stored") + dropped)
        let segments = TestSupport.segments(in: dir + "/s")
        for path in segments { _ = try TestSupport.checkSegment(path, width: 1920, height: 1080, fps: 240) }
        let seqs = try TestSupport.stamps(segments).map(\.sequence)
        let first = try #require(seqs.first)
        #expect(seqs.count > 10 && seqs == Array(first..<(first + UInt64(seqs.count))))
    }

    /// Steady state allocates nothing per frame with workers either: the same run with 4,000 more frames
    /// makes (almost) no more heap allocations. Counted by bench/malloc_count.c (LD_PRELOAD). Only on a
    /// release binary (as `make test` runs): a debug build's unoptimised Swift allocates where -O does not.
    @Test(.enabled(if: TestSupport.binary.contains("/release/"), "needs a release binary (BODYCAM_BIN)"))
    func workersAllocateNothingPerFrame() throws {
        let dir = TestSupport.temporaryDirectory("alloc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = TestSupport.packageRoot.path
        let lib = dir + "/malloc_count.so"
        let cc = try TestSupport.run("/usr/bin/env", ["cc", "-O2", "-shared", "-fPIC", "-o", lib, root + "/bench/malloc_count.c", "-ldl"])
        try #require(cc.status == 0, "\(cc.stderr)")
        var counts: [Int] = []
        for seconds in [70, 200] { // 2,000 and 6,000 frames after the trigger
            let out = try TestSupport.run(TestSupport.binary,
                                          ["run", "--size", "320x240", "--boot-time", "0s", "--prerecord", "0s", "--segment-duration", "4h",
                                           "--stats-every", "0s", "--battery-capacity", "100000", "--record-reminder", "1h",
                                           "--encoders", "2", "--storage", dir + "/s\(seconds)", "--records", dir + "/r"],
                                          stdin: "trigger holster\nwait \(seconds)s\nquit\n", environment: ["LD_PRELOAD": lib])
            #expect(out.status == 0, "\(out.stderr)")
            let line = try #require(out.stderr.split(separator: "\n").last { $0.hasPrefix("malloc_count:") })
            counts.append(try #require(Int(line.split(separator: " ")[1])))
        }
        #expect(counts[1] - counts[0] < 10, "\(counts[1] - counts[0]) more allocations over 3,900 more frames")
    }
}
