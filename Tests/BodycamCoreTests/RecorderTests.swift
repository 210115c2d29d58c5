import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// The recorder's threading and back-pressure rules, with real files and a stalled writer.
struct RecorderTests {
    static func settings(_ dir: String, backPressure: BackPressure, arenaBytes: Int = 64 * 1024) -> RecorderSettings {
        RecorderSettings(directory: dir, deviceID: "T-1", width: 64, height: 48, fps: 30, preRecord: Nanos.perSecond,
                         arenaBytes: arenaBytes, frameCapacity: 256, segmentMaxDuration: 60 * Nanos.perSecond,
                         segmentMaxBytes: 1 << 30, backPressure: backPressure)
    }

    /// Stores one copy of `jpeg` as frame `seq`; false if the recorder dropped it.
    static func store(_ r: Recorder, _ jpeg: [UInt8], seq: UInt64) -> Bool {
        guard let space = r.reserve(jpeg.count) else { return false }
        jpeg.withUnsafeBytes { space.copyMemory(from: $0) }
        let mono = Nanos(seq) * Nanos.perSecond / 30
        r.commit(length: jpeg.count, sequence: seq, mono: mono, utc: mono)
        return true
    }

    @Test func liveCaptureNeverWaitsForAStalledDiskAndCountsEveryDrop() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let jpeg = try JPEGMarkerTests.sampleJPEG()
        let events = CollectingSink()
        let r = Recorder(settings: Self.settings(dir, backPressure: .drop), events: events)
        r.setWriterStalled(true)
        _ = try #require(r.startRecording(owner: 1, id: "T-1-000001", trigger: "test", since: 0, now: 0, utcNow: 0))
        var stored = 0, dropped = 0
        for seq in 0..<200 { if Self.store(r, jpeg, seq: UInt64(seq)) { stored += 1 } else { dropped += 1 } }
        // The arena holds 64 KiB of pending frames; the rest were dropped without blocking.
        #expect(stored == 64 * 1024 / jpeg.count)
        #expect(dropped == 200 - stored)
        #expect(r.snapshot.counters.ring.droppedFull == UInt64(dropped))
        r.setWriterStalled(false)
        r.finish()
        let finalized = try #require(events.events("recording").first)
        #expect(finalized["frames"] == .int(Int64(stored)) && finalized["dropped_frames"] == .int(Int64(dropped)))
        let segment = try #require(events.events("segment").first)
        guard case .string(let path) = segment["path"] else { Issue.record("no path"); return }
        let avi = try TestSupport.checkSegment(path, width: 64, height: 48, fps: 30)
        #expect(avi.frames.count == stored)
    }

    @Test func virtualClockCaptureWaitsForTheWriterAndDropsNothing() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let jpeg = try JPEGMarkerTests.sampleJPEG()
        let events = CollectingSink()
        let r = Recorder(settings: Self.settings(dir, backPressure: .wait), events: events)
        _ = try #require(r.startRecording(owner: 1, id: "T-1-000001", trigger: "test", since: 0, now: 0, utcNow: 0))
        // Six times what the arena holds: capture has to wait for the writer, and nothing is dropped.
        var refused = 0
        for seq in 0..<200 where !Self.store(r, jpeg, seq: UInt64(seq)) { refused += 1 }
        r.finish()
        #expect(refused == 0)
        #expect(r.snapshot.counters.ring.droppedFull == 0)
        #expect(events.events("recording").first?["frames"] == .int(200))
    }

    @Test func aStalledCardDropsTheSameFramesOnEveryVirtualRun() throws {
        let jpeg = try JPEGMarkerTests.sampleJPEG()
        var dropCounts: Set<UInt64> = []
        for _ in 0..<3 {
            let dir = TestSupport.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let r = Recorder(settings: Self.settings(dir, backPressure: .wait), events: CollectingSink())
            _ = try #require(r.startRecording(owner: 1, id: "T-1-000001", trigger: "test", since: 0, now: 0, utcNow: 0))
            r.settle()
            r.setWriterStalled(true)
            for seq in 0..<100 { _ = Self.store(r, jpeg, seq: UInt64(seq)) }
            dropCounts.insert(r.snapshot.counters.ring.droppedFull)
            r.finish()
        }
        #expect(dropCounts == [UInt64(100 - 64 * 1024 / jpeg.count)])
    }

    @Test func aFailingDiskEndsTheRecordingIncompleteWithoutCrashing() throws {
        let jpeg = try JPEGMarkerTests.sampleJPEG()
        let events = CollectingSink()
        let r = Recorder(settings: Self.settings("/nonexistent/bodycam", backPressure: .drop), events: events)
        _ = try #require(r.startRecording(owner: 1, id: "T-1-000001", trigger: "test", since: 0, now: 0, utcNow: 0))
        for seq in 0..<10 { _ = Self.store(r, jpeg, seq: UInt64(seq)) }
        r.finish()
        let error = try #require(events.events("error").first)
        #expect(error["recording"] == .string("T-1-000001"))
        #expect(events.events("recording").first?["complete"] == .bool(false))
        #expect(r.snapshot.counters.framesLostOnWriteError == 10)
        #expect(events.events("segment").isEmpty)
    }

    @Test func tooManyQueuedRecordingsAreRefusedNotQueuedWithoutBound() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = Recorder(settings: Self.settings(dir, backPressure: .drop), events: CollectingSink())
        r.setWriterStalled(true)
        let jpeg = try JPEGMarkerTests.sampleJPEG()
        var accepted = 0
        for n in 1...6 {
            if r.startRecording(owner: UInt32(n), id: "T-1-00000\(n)", trigger: "test", since: 0, now: 0, utcNow: 0) != nil { accepted += 1 }
            _ = Self.store(r, jpeg, seq: UInt64(n))
            r.stopRecording()
        }
        #expect(accepted == Recorder.maxQueuedRecordings)
        r.finish()
        #expect(!r.isWriting)
    }
}
