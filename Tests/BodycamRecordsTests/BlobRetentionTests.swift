import BodycamEvidence
import Synchronization
import Testing
@testable import BodycamRecords
#if canImport(Glibc)
import Glibc
#endif

/// Retention changes reach a blob store with its own lock (S3 Object Lock): protective ones before the
/// catalogue commit, loosening ones after it, and a failure of either is reported, never hidden.
@Suite struct BlobRetentionTests {
    /// The folder store, recording retention calls and failing the kinds it is told to.
    final class LockRecorder: BlobStore {
        let inner: any BlobStore
        let calls = Mutex<[String]>([])
        let failing = Mutex<Set<String>>([])
        init(inner: any BlobStore) { self.inner = inner }
        func partialSize(_ name: UploadName) throws(IOError) -> Int? { try inner.partialSize(name) }
        func appendPartial(_ name: UploadName, at offset: Int, _ bytes: [UInt8]) throws(IOError) -> AppendResult { try inner.appendPartial(name, at: offset, bytes) }
        func hashPartial(_ name: UploadName) throws(IOError) -> (sha256: String, bytes: Int) { try inner.hashPartial(name) }
        func readPartial(_ name: UploadName, limit: Int) throws(IOError) -> [UInt8] { try inner.readPartial(name, limit: limit) }
        func discardPartial(_ name: UploadName) { inner.discardPartial(name) }
        func commitPartial(_ name: UploadName, sha256: String) throws(IOError) { try inner.commitPartial(name, sha256: sha256) }
        func hasBlob(_ sha256: String) -> Bool { inner.hasBlob(sha256) }
        func readBlob(_ sha256: String, limit: Int) throws(IOError) -> [UInt8] { try inner.readBlob(sha256, limit: limit) }
        func openBlob(_ sha256: String) throws(IOError) -> any BlobReader { try inner.openBlob(sha256) }
        func hashBlob(_ sha256: String) throws(IOError) -> (sha256: String, bytes: Int) { try inner.hashBlob(sha256) }
        func removeBlob(_ sha256: String) throws(IOError) { try inner.removeBlob(sha256) }
        func extendRetention(_ sha256: String, until utc: Int64) throws(IOError) {
            if failing.withLock({ $0.contains("retain") }) { throw IOError(operation: "s3 PutObjectRetention: HTTP 503", path: sha256, errno: EIO) }
            calls.withLock { $0.append("retain \(sha256) \(utc)") }
        }
        func setLegalHold(_ sha256: String, on: Bool) throws(IOError) {
            if failing.withLock({ $0.contains(on ? "hold" : "release") }) { throw IOError(operation: "s3 PutObjectLegalHold: HTTP 503", path: sha256, errno: EIO) }
            calls.withLock { $0.append("\(on ? "hold" : "release") \(sha256)") }
        }
    }

    @Test func evidentialAndHoldAreAppliedToEveryFileAndAFailureStopsTheChange() async throws {
        nonisolated(unsafe) var recorder: LockRecorder?
        let s = try await RunningService.start(blobs: { let r = LockRecorder(inner: $0); recorder = r; return r })
        defer { s.stop() }
        let store = try #require(recorder)
        let device = try TestDevice("DEV-000001", port: s.port)
        #expect(try await device.enrol(token: try s.service.issueEnrolmentToken(deviceID: "DEV-000001", lifetime: 86_400_000_000_000)).status == 200)
        let rec = SyntheticRecording.make(device.identity, number: 1, segments: 2)
        #expect(try await device.upload(rec).status == 200)
        let files = try await s.service.catalogue.read { try $0.files(deviceID: "DEV-000001", folder: rec.id) }
        let shas = Set(files.map(\.sha256)).sorted()
        #expect(shas.count >= 3, "manifest, signature and segments")

        // Evidential: the store is asked first; if it fails, the catalogue is unchanged and the caller told.
        store.failing.withLock { $0 = ["retain"] }
        #expect(throws: Refusal.self) { try s.service.changeRetentionNow(recordingID: rec.id, .category(.evidential, caseReference: "OP-1")) }
        #expect(try await s.recordings().first?.category == .nonEvidential)
        #expect(try s.custody().filter { $0.action == .category }.isEmpty)
        store.failing.withLock { $0 = [] }
        let r = try s.service.changeRetentionNow(recordingID: rec.id, .category(.evidential, caseReference: "OP-1"))
        let until = RetentionCategory.evidential.expiresUTC(of: r)
        #expect(store.calls.withLock { $0 } == shas.map { "retain \($0) \(until)" })

        // Hold: first in the store (a failure leaves no hold in the catalogue).
        store.calls.withLock { $0 = [] }
        store.failing.withLock { $0 = ["hold"] }
        #expect(throws: Refusal.self) { try s.service.changeRetentionNow(recordingID: rec.id, .hold(reason: "complaint")) }
        #expect(try await s.recordings().first?.holdReason == nil)
        store.failing.withLock { $0 = [] }
        _ = try await s.service.changeRetention(recordingID: rec.id, .hold(reason: "complaint"), actor: "sarge")
        #expect(store.calls.withLock { $0 } == shas.map { "hold \($0)" })

        // Release: the catalogue first; the store's failure afterwards is reported, the release stands.
        store.calls.withLock { $0 = [] }
        store.failing.withLock { $0 = ["release"] }
        #expect(throws: Refusal.self) { try s.service.changeRetentionNow(recordingID: rec.id, .release) }
        #expect(try await s.recordings().first?.holdReason == nil)
        store.failing.withLock { $0 = [] }
        // Back to non-evidential asks nothing of the store (a COMPLIANCE date is never shortened).
        _ = try s.service.changeRetentionNow(recordingID: rec.id, .category(.nonEvidential, caseReference: nil))
        #expect(store.calls.withLock { $0 }.isEmpty)
    }
}
