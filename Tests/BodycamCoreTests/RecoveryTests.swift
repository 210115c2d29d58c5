import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Recovery on its own: what a crash can leave behind, and what comes back.
struct RecoveryTests {
    static func storage() throws -> (String, DeviceIdentity, AuditLog) {
        let dir = TestSupport.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/recordings", withIntermediateDirectories: true)
        let (identity, _) = try DeviceIdentity.loadOrCreate(stateDirectory: dir + "/state", deviceID: "T-1", utcNow: 0)
        let audit = try AuditLog(path: dir + "/state/audit.jsonl", identity: identity)
        return (dir, identity, audit)
    }

    static func keys(_ identity: DeviceIdentity) throws -> String {
        let path = TestSupport.temporaryDirectory("keys") + "/trusted-keys"
        try (TrustedKeys.line(deviceID: identity.deviceID, key: identity.publicKey) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Writes an unfinished segment of `frames` stamped frames, as a crash leaves it (no index, header
    /// with zero counts), optionally followed by `tail` garbage bytes (a frame cut off mid-write).
    static func unfinishedSegment(_ dir: String, frames: Int, tail: [UInt8] = []) throws -> String {
        let name = "20260101T080000.000Z_T-1-000001_001.avi"
        let writer = AVISegmentWriter(width: 64, height: 48, fps: 25, frameCapacity: 100)
        try writer.open(path: dir + "/recordings/" + name, directory: dir + "/recordings")
        let base = try JPEGMarkerTests.sampleJPEG()
        let id = Array("T-1".utf8)
        for i in 0..<frames {
            let stampBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FrameStamp.capacity, alignment: 1)
            defer { stampBuffer.deallocate() }
            var w = ASCIIWriter(stampBuffer)
            id.withUnsafeBytes { FrameStamp.write(deviceID: $0, sequence: UInt64(i), utc: Int64(i) * 40_000_000, mono: Int64(i) * 40_000_000, to: &w) }
            var out = [UInt8](repeating: 0, count: base.count + 200)
            let n = base.withUnsafeBytes { src in out.withUnsafeMutableBytes {
                JPEGMarkers.copyInsertingComment(src, comment: UnsafeRawBufferPointer(rebasing: stampBuffer[0..<w.count]), into: $0)
            } }!
            try Array(out[0..<n]).withUnsafeBytes { try writer.append($0) }
        }
        writer.abandon() // the crash: no index, header not updated
        let part = dir + "/recordings/" + name + ".part"
        if !tail.isEmpty {
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: part))
            try h.seekToEnd()
            try h.write(contentsOf: tail)
            try h.close()
        }
        return part
    }

    @Test func anUnfinishedSegmentKeepsEveryWholeFrameAndGetsAManifest() throws {
        let (dir, identity, audit) = try Self.storage()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The camera logged the start (recovery vouches only for recordings it started).
        audit.append("recording-started", mono: 0, utc: 0, [("id", .string("T-1-000001")), ("trigger", .string("holster"))])
        // A frame cut off mid-write: a chunk header promising more bytes than the file has.
        _ = try Self.unfinishedSegment(dir, frames: 7, tail: Array("00dc".utf8) + [0x00, 0x10, 0x00, 0x00] + [0xFF, 0xD8, 1, 2, 3])
        let r = try Recovery.run(directory: dir + "/recordings", identity: identity, audit: audit, quarantine: Quarantine(storage: dir), mono: 0, utc: 0)
        #expect(r.segmentsRebuilt == ["20260101T080000.000Z_T-1-000001_001.avi"])
        #expect(r.framesRecovered == 7 && r.manifestsWritten == ["T-1-000001.manifest.json"])
        let avi = try TestSupport.checkSegment(dir + "/recordings/" + r.segmentsRebuilt[0], width: 64, height: 48, fps: 25)
        #expect(avi.frames.count == 7 && avi.stamp(6)?.sequence == 6)
        audit.checkpoint(mono: 0, utc: 0)
        let verify = try TestSupport.verify(dir, keys: try Self.keys(identity))
        #expect(verify.status == 0 && verify.stdout.contains("recovered after power loss"), "\(verify.stdout)")
        // Running it again finds nothing to do.
        #expect(try Recovery.run(directory: dir + "/recordings", identity: identity, audit: audit, quarantine: Quarantine(storage: dir), mono: 0, utc: 0).isEmpty)
    }

    @Test func aSegmentWithNoWholeFrameIsRemoved() throws {
        let (dir, identity, audit) = try Self.storage()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let part = try Self.unfinishedSegment(dir, frames: 0, tail: [1, 2, 3])
        let r = try Recovery.run(directory: dir + "/recordings", identity: identity, audit: audit, quarantine: Quarantine(storage: dir), mono: 0, utc: 0)
        #expect(r.emptySegmentsRemoved.count == 1 && !FileManager.default.fileExists(atPath: part))
        #expect(r.manifestsWritten.isEmpty)
    }

    @Test func aPartialLastAuditEntryIsRemovedAndTheChainStillVerifies() throws {
        let (dir, identity, audit) = try Self.storage()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        audit.append("state", mono: 0, utc: 0, [("to", .string("ready"))])
        audit.checkpoint(mono: 0, utc: 0)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: audit.path))
        try h.seekToEnd()
        let partial = Array("{\"seq\":3,\"utc\":\"2026".utf8) // killed mid-write
        try h.write(contentsOf: partial)
        try h.close()
        let reopened = try AuditLog(path: audit.path, identity: identity)
        #expect(reopened.repairedBytes == partial.count && reopened.entries == 2)
        reopened.append("audit-repaired", mono: 0, utc: 0)
        reopened.checkpoint(mono: 0, utc: 0)
        var trusted = TrustedKeys()
        try trusted.add(deviceID: identity.deviceID, key: identity.publicKey)
        var v = Verifier(trusted: trusted)
        v.verify(path: audit.path)
        #expect(v.failures.isEmpty, "\(v.findings)")
    }
}
