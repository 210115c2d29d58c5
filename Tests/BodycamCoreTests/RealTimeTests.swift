import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Recordings keep real time: frames that never came (skipped by the source, damaged, no room) keep their
/// place in the AVI timeline as empty chunks, so a recording plays for as long as it was recorded, and the
/// manifest and the finalized event count what the source skipped.
@Suite(.serialized)
struct RealTimeTests {
    /// A source that, like a busy driver, skips `skip` frames out of every `every`: their sequence numbers
    /// and their time pass, but they are never delivered.
    final class SkippingSource: FrameSource, FrameDamageInjecting {
        let inner: SyntheticSource
        let every: Int, skip: Int
        private var n = 0
        private(set) var skipped = 0
        init(inner: SyntheticSource, every: Int, skip: Int) {
            self.inner = inner
            self.every = every
            self.skip = skip
        }
        var geometry: FrameGeometry { inner.geometry }
        var frameInterval: Nanos { inner.frameInterval }
        var nextFrameDue: Nanos? { inner.nextFrameDue }
        func start() throws(FrameSourceError) { try inner.start() }
        func nextFrame() throws(FrameSourceError) -> CapturedFrame? {
            n += 1
            if n % every == 0 {
                for _ in 0..<skip {
                    guard let f = try inner.nextFrame() else { return nil }
                    inner.releaseFrame(f)
                    skipped += 1
                }
            }
            return try inner.nextFrame()
        }
        func releaseFrame(_ frame: CapturedFrame) { inner.releaseFrame(frame) }
        func stop() { inner.stop() }
        func damageNextFrames(_ count: Int) { inner.damageNextFrames(count) }
    }

    /// Seconds a segment plays for, as ffprobe reads it from the file.
    static func duration(_ path: String) throws -> Double {
        let o = try TestSupport.run(TestSupport.tool("ffprobe"), ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path])
        return Double(o.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test func framesTheSourceSkippedKeepTheirPlaceAndAreCounted() throws {
        let clock = VirtualClock()
        let inner = try #require(SyntheticSource(width: 160, height: 120, fps: 30, format: .yuyv, seed: 1, clock: clock,
                                                 utc: UTCMapping(utcAtZero: CameraSettings.virtualClockStart)))
        let source = SkippingSource(inner: inner, every: 10, skip: 3)
        let r = try RuntimeTests.run("wait 3s\ntrigger holster\nwait 4s\nhold record 3s\nquit\n", clock: clock, source: source) {
            $0.preRecord = 0
            $0.segmentDuration = 3 * Nanos.perSecond
        }
        defer { try? FileManager.default.removeItem(atPath: r.storage) }
        let finalized = try #require(r.events("recording").first { RuntimeTests.string($0, "action") == "finalized" })
        let segments = TestSupport.segments(in: r.storage)
        #expect(segments.count >= 2)
        let manifest = try SignedManifest.read(directory: r.recordings, id: EvidenceNames.RecordingID(deviceID: "BWV-0001", number: 1)).manifest
        var span = 0.0, played = 0.0
        for (path, record) in zip(segments, manifest.segments) {
            let avi = try TestSupport.checkSegment(path, width: 160, height: 120, fps: 30)
            #expect(avi.emptyChunks.count == record.missingFrames && record.missingFrames > 0)
            let first = try #require(avi.stamp(0)), last = try #require(avi.stamp(avi.frames.count - 1))
            // The file plays from its first frame to its last, plus the last frame's own interval.
            let stamped = Double(last.mono - first.mono) / 1e9 + 1.0 / 30
            let seconds = try Self.duration(path)
            #expect(abs(seconds - stamped) <= 1.0 / 30 + 1e-6, "\(path): plays \(seconds) s, stamped over \(stamped) s")
            span += stamped
            played += seconds
            // The stamps carry the source's own sequence numbers, with its gaps.
            let stamps = try TestSupport.stamps([path])
            #expect(zip(stamps, stamps.dropFirst()).contains { $1.sourceSequence - $0.sourceSequence == 4 })
            #expect(zip(stamps, stamps.dropFirst()).allSatisfy { $1.sequence == $0.sequence + 1 })
        }
        // Over the recording: the source skipped 3 of every 10 captured, and every one is counted.
        let skipped = try #require(RuntimeTests.int(finalized, "source_skipped_frames"))
        // 7 s at 30 fps: 210 frame times, 3 of every 13 skipped.
        #expect(skipped == 48 && UInt64(skipped) == manifest.sourceSkippedFrames, "\(finalized)")
        #expect(RuntimeTests.int(finalized, "missing_frames") == 48 && RuntimeTests.int(finalized, "frames") == 162)
        #expect(abs(played - span) <= Double(segments.count) / 30 + 1e-6)
        var v = Verifier(trusted: try Self.trusted(r.storage))
        v.verify(path: r.storage)
        #expect(v.verified, "\(v.failures)")
    }

    static func trusted(_ storage: String) throws -> TrustedKeys {
        var t = TrustedKeys()
        let info = try DeviceInfo.read(storage + "/state/device.json")
        try t.add(deviceID: info.deviceID, key: info.publicKey)
        return t
    }

    /// Damaged frames (dropped and counted) leave placeholders too: the binary, end to end.
    @Test func damagedFramesKeepTheTimeline() throws {
        let storage = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let out = try TestSupport.bodycam(["run", "--size", "160x120", "--storage", storage, "--prerecord", "0s"],
                                          stdin: "wait 3s\ntrigger holster\nwait 1s\nfault corrupt-frames 15\nwait 2s\nhold record 3s\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let segment = try #require(TestSupport.segments(in: storage).first)
        let avi = try TestSupport.checkSegment(segment, width: 160, height: 120, fps: 30)
        #expect(avi.emptyChunks.count == 15)
        let first = try #require(avi.stamp(0)), last = try #require(avi.stamp(avi.frames.count - 1))
        let stamped = Double(last.mono - first.mono) / 1e9 + 1.0 / 30
        #expect(abs(try Self.duration(segment) - stamped) <= 1.0 / 30 + 1e-6)
        let segmentEvent = try #require(out.events("segment").first)
        #expect(segmentEvent["missing_frames"] as? Int == 15)
        #expect(try TestSupport.verify(storage, trusting: storage).status == 0)
    }
}
