import BodycamEvidence
import Testing
@testable import BodycamRecords
#if canImport(Glibc)
import Glibc
#endif

@Suite struct IngestTests {
    @Test func aRecordingEndsInAReceiptSignedByTheServiceKey() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 3, officer: "PC-1", markers: 2)
        let reply = try await device.upload(r)
        #expect(reply.status == 200, "\(reply.text)")
        let receipt = try statement(reply, key: s.serviceKey)
        #expect(receipt.kind == .receipt && receipt.recordingID == r.id && receipt.manifestSHA256 == r.manifest.sha256)
        #expect(receipt.deviceID == device.id && receipt.service == s.service.identity.fingerprint)
        let custody = try s.custody()
        #expect(custody.first { $0.seq == receipt.custodySeq }?.action == .receipt)
        #expect(custody.contains { $0.action == .upload && $0.recordingID == r.id && $0.officer == "PC-1" })
        let recordings = try await s.recordings()
        #expect(recordings.count == 1)
        let rec = try #require(recordings.first)
        #expect(rec.recordingID == r.id && rec.officer == "PC-1" && rec.trigger == "button" && rec.markers == 2 && rec.frames == 20)
        #expect(rec.bytes == r.segments.reduce(0) { $0 + $1.bytes.count } && rec.manifestSHA256 == r.manifest.sha256)
        #expect(rec.startUTC == r.manifest.startUTC && rec.endUTC == r.manifest.endUTC)
        // Every file is a blob named by its SHA-256; nothing is left in uploads.
        for (_, bytes) in r.segments { #expect(s.service.blobs.hasBlob(Hex.sha256(bytes))) }
        #expect(s.storedFiles.allSatisfy { $0.hasPrefix("blobs/") })

        // Asking again (a camera that crashed before logging it) answers the same receipt.
        let again = try await device.finish(r.id, r.manifestName, sha256: r.manifest.sha256)
        #expect(again.status == 200)
        #expect(again.body == reply.body)
        #expect(try await s.recordings().count == 1)
    }

    @Test func anUploadResumesAtTheBytesHeldAndAWrongOffsetIsRefused() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        let (file, bytes) = r.segments[0]
        let sha = Hex.sha256(bytes)
        #expect(try await device.status(r.id, file, sha256: sha).decode(RecordsWire.FileStatus.self) == .init(state: .absent, offset: 0))
        let half = bytes.count / 2
        let first = try await device.put(r.id, file, offset: 0, Array(bytes[..<half]))
        #expect(first.decode(RecordsWire.FileStatus.self) == .init(state: .partial, offset: half))
        // (the camera restarts here and asks what is held)
        #expect(try await device.status(r.id, file, sha256: sha).decode(RecordsWire.FileStatus.self) == .init(state: .partial, offset: half))
        let wrong = try await device.put(r.id, file, offset: 0, Array(bytes[..<half]))
        #expect(wrong.status == 409)
        #expect(wrong.error?.error.contains("not the \(half) bytes held") == true)
        let past = try await device.put(r.id, file, offset: half + 10, Array(bytes[half...]))
        #expect(past.status == 409)
        let rest = try await device.put(r.id, file, offset: half, Array(bytes[half...]))
        #expect(rest.decode(RecordsWire.FileStatus.self) == .init(state: .partial, offset: bytes.count))
        let done = try await device.finish(r.id, file, sha256: sha)
        #expect(done.decode(RecordsWire.FileStatus.self) == .init(state: .same, offset: bytes.count))
        #expect(try s.service.blobs.readBlob(sha, limit: 1 << 20) == bytes)
    }

    @Test func recordsAreWriteOnce() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        let (file, bytes) = r.segments[0]
        let sha = Hex.sha256(bytes)
        #expect(try await device.upload(r.id, file, bytes).status == 200)
        let blobsBefore = s.storedFiles
        // The same bytes again: same, stored once.
        #expect(try await device.finish(r.id, file, sha256: sha).decode(RecordsWire.FileStatus.self)?.state == .same)
        #expect(try await device.status(r.id, file, sha256: sha).decode(RecordsWire.FileStatus.self)?.state == .same)
        // The same bytes under another name share the blob.
        let twin = EvidenceNames.Segment(startUTC: r.manifest.startUTC + 99_000_000_000, recording: EvidenceNames.RecordingID(deviceID: device.id, number: 1), index: 2).fileName
        #expect(try await device.upload(r.id, twin, bytes).status == 200)
        #expect(s.storedFiles == blobsBefore)
        // Other bytes under a held name: different, refused.
        var other = bytes
        other[100] ^= 1
        #expect(try await device.status(r.id, file, sha256: Hex.sha256(other)).decode(RecordsWire.FileStatus.self)?.state == .different)
        #expect(try await device.put(r.id, file, offset: 0, other).status == 409)
        #expect(try await device.finish(r.id, file, sha256: Hex.sha256(other)).status == 409)
        #expect(try s.service.blobs.readBlob(sha, limit: 1 << 20) == bytes)
    }

    @Test func aTamperedSegmentIsRefusedAndNothingIsCatalogued() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 2)
        let (file, bytes) = r.segments[0]
        var tampered = bytes
        tampered[3000 % bytes.count] ^= 0xff
        #expect(try await device.put(r.id, file, offset: 0, tampered).status == 200)
        let finish = try await device.finish(r.id, file, sha256: Hex.sha256(bytes))
        #expect(finish.status == 422)
        #expect(finish.error?.error.contains("hash to") == true)
        // Dropped: the camera sends it again from 0.
        #expect(try await device.status(r.id, file, sha256: Hex.sha256(bytes)).decode(RecordsWire.FileStatus.self)?.state == .absent)
        // A manifest listing a segment held with other bytes is refused too.
        #expect(try await device.upload(r.id, file, tampered).status == 200)
        #expect(try await device.upload(r.id, r.segments[1].file, r.segments[1].bytes).status == 200)
        #expect(try await device.upload(r.id, r.signatureName, r.signature).status == 200)
        let direct = try await device.upload(r.id, r.manifestName, r.manifestBytes)
        #expect(direct.status == 422, "\(direct.text)")
        #expect(direct.error?.error.contains("segment 1") == true)
        #expect(try await s.recordings().isEmpty)
        #expect(try s.custody().allSatisfy { $0.action != .receipt })
    }

    @Test func aManifestNotSignedByThePinnedKeyIsRefused() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let stranger = try TestDevice("DEV-000001", port: s.port)
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1, signer: stranger.identity)
        let reply = try await device.upload(r)
        #expect(reply.status == 422)
        #expect(reply.error?.error.contains("does not verify with the key pinned") == true)
        #expect(try await s.recordings().isEmpty)
        // A manifest sent before its signature is refused and can be sent again later.
        let early = SyntheticRecording.make(device.identity, number: 2, segments: 1)
        for (f, b) in early.segments { #expect(try await device.upload(early.id, f, b).status == 200) }
        #expect(try await device.upload(early.id, early.manifestName, early.manifestBytes).status == 422)
        #expect(try await device.upload(early.id, early.signatureName, early.signature).status == 200)
        #expect(try await device.upload(early.id, early.manifestName, early.manifestBytes).status == 200)
    }

    @Test func aManifestThatDoesNotParseIsRefused() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        for (f, b) in r.segments { #expect(try await device.upload(r.id, f, b).status == 200) }
        var edited = r.manifestBytes
        edited.insert(32, at: 1) // a space: not the form the camera writes
        #expect(try await device.upload(r.id, r.signatureName, device.identity.sign(edited).fileBytes).status == 200)
        let reply = try await device.upload(r.id, r.manifestName, edited)
        #expect(reply.status == 422)
        #expect(try await s.recordings().isEmpty)
    }

    @Test func aChunkOverFourMiBIsRefusedBeforeItIsRead() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        let big = [UInt8](repeating: 7, count: RecordsWire.maxChunkBytes + 1)
        let reply = try await device.put(r.id, r.segments[0].file, offset: 0, big)
        #expect(reply.status == 413)
        #expect(s.storedFiles.isEmpty)
    }

    /// The store fills: 507, and the upload holds what it held before.
    @Test func aFullStoreAnswers507AndKeepsNothingHalfWritten() async throws {
        let s = try await RunningService.start(blobs: { FullAfter(inner: $0) })
        defer { s.stop() }
        let device = try TestDevice("DEV-000001", port: s.port)
        #expect(try await device.enrol(token: try s.service.issueEnrolmentToken(deviceID: device.id, lifetime: 86_400_000_000_000)).status == 200)
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        let (file, bytes) = r.segments[0]
        let reply = try await device.put(r.id, file, offset: 0, bytes)
        #expect(reply.status == 507)
        #expect(reply.error?.error.contains("full") == true)
        #expect(try await device.status(r.id, file, sha256: Hex.sha256(bytes)).decode(RecordsWire.FileStatus.self)?.state == .absent)
    }

    @Test func anAuditTrailCopyIsCheckedAgainstItsSignedHead() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let (trail, head) = AuditFixture.trail(device.identity, entries: 3)
        let fp = device.identity.publicKey.fingerprintHex
        let trailName = RecordsNames.auditCopy(entries: 3, fingerprint: fp), headName = RecordsNames.auditHeadCopy(entries: 3, fingerprint: fp)
        // The head before its trail: refused.
        #expect(try await device.upload(RecordsNames.auditFolder, headName, head).status == 422)
        #expect(try await device.upload(RecordsNames.auditFolder, trailName, trail).status == 200)
        let ok = try await device.upload(RecordsNames.auditFolder, headName, head)
        #expect(ok.status == 200, "\(ok.text)")
        #expect(try s.custody().contains { $0.action == .upload && $0.detail.contains("audit trail copy") })
        // A head signed by another key for a trail of the same length: refused.
        let stranger = try TestDevice(device.id, port: s.port)
        let (trail2, head2) = AuditFixture.trail(device.identity, entries: 2, headSigner: stranger.identity)
        #expect(try await device.upload(RecordsNames.auditFolder, RecordsNames.auditCopy(entries: 2, fingerprint: fp), trail2).status == 200)
        #expect(try await device.upload(RecordsNames.auditFolder, RecordsNames.auditHeadCopy(entries: 2, fingerprint: fp), head2).status == 422)
        // A copy named by a key that is not the device's pinned key: refused.
        let other = stranger.identity.publicKey.fingerprintHex
        let misnamed = try await device.upload(RecordsNames.auditFolder, RecordsNames.auditCopy(entries: 3, fingerprint: other), trail)
        #expect(misnamed.status == 422 && misnamed.text.contains("pinned"), "\(misnamed.text)")
        // An older camera's names (no fingerprint) are still taken, and checked the same way.
        #expect(try await device.upload(RecordsNames.auditFolder, RecordsNames.auditCopy(entries: 3, fingerprint: nil), trail).status == 200)
        let old = try await device.upload(RecordsNames.auditFolder, RecordsNames.auditHeadCopy(entries: 3, fingerprint: nil), head)
        #expect(old.status == 200, "\(old.text)")
        // Hostile names never reach the store: the route's name check refuses them.
        for file in ["000000003.0123456789abcde.jsonl", "000000003.0123456789ABCDEF.jsonl", "000000003.%2e%2e.jsonl", "000000003.jsonl.jsonl"] {
            #expect(try await device.upload(RecordsNames.auditFolder, file, trail).status != 200, "\(file)")
        }
    }
}

/// A blob store whose disk is full: every write fails with ENOSPC.
final class FullAfter: BlobStore {
    let inner: any BlobStore
    init(inner: any BlobStore) { self.inner = inner }
    func partialSize(_ name: UploadName) throws(IOError) -> Int? { try inner.partialSize(name) }
    func appendPartial(_ name: UploadName, at offset: Int, _ bytes: [UInt8]) throws(IOError) -> AppendResult {
        throw IOError(operation: "write", path: name.description, errno: ENOSPC)
    }
    func hashPartial(_ name: UploadName) throws(IOError) -> (sha256: String, bytes: Int) { try inner.hashPartial(name) }
    func readPartial(_ name: UploadName, limit: Int) throws(IOError) -> [UInt8] { try inner.readPartial(name, limit: limit) }
    func discardPartial(_ name: UploadName) { inner.discardPartial(name) }
    func commitPartial(_ name: UploadName, sha256: String) throws(IOError) { throw IOError(operation: "rename", path: name.description, errno: ENOSPC) }
    func hasBlob(_ sha256: String) -> Bool { inner.hasBlob(sha256) }
    func readBlob(_ sha256: String, limit: Int) throws(IOError) -> [UInt8] { try inner.readBlob(sha256, limit: limit) }
    func openBlob(_ sha256: String) throws(IOError) -> any BlobReader { try inner.openBlob(sha256) }
    func hashBlob(_ sha256: String) throws(IOError) -> (sha256: String, bytes: Int) { try inner.hashBlob(sha256) }
    func removeBlob(_ sha256: String) throws(IOError) { try inner.removeBlob(sha256) }
    func extendRetention(_ sha256: String, until utc: Int64) throws(IOError) { try inner.extendRetention(sha256, until: utc) }
    func setLegalHold(_ sha256: String, on: Bool) throws(IOError) { try inner.setLegalHold(sha256, on: on) }
}

/// A device audit trail written the way the camera writes one: signed lines, hash-chained, and its head.
enum AuditFixture {
    static func trail(_ identity: DeviceIdentity, entries: Int, headSigner: DeviceIdentity? = nil) -> (trail: [UInt8], head: [UInt8]) {
        var bytes: [UInt8] = []
        var prev = AuditTrail.genesis
        let t0 = UTC.parse("2026-03-01T08:00:00Z") ?? 0
        for n in 1...entries {
            let body = Array(JSON.object([("seq", .int(Int64(n))), ("utc", .string(UTC.iso(t0 + Int64(n) * 1_000_000_000))), ("t", .double(Double(n))),
                                          ("event", .string("boot")), ("prev", .string(prev))]).serialized.utf8.dropLast())
            let line = body + AuditTrail.signatureField(identity.sign(body))
            prev = Hex.sha256(line)
            bytes += line + [10]
        }
        let utc = t0 + 100_000_000_000
        let message = AuditHead.message(deviceID: identity.deviceID, entries: entries, bytes: bytes.count, lastSHA256: prev, utc: utc)
        let head = AuditHead(deviceID: identity.deviceID, entries: entries, bytes: bytes.count, lastSHA256: prev, utc: utc,
                             signature: (headSigner ?? identity).sign(message))
        return (bytes, head.fileBytes)
    }
}

/// The ingest logic without HTTP: what the routes call, with the pinned key given directly.
@Suite struct IngestLogicTests {
    @Test func ingestCommitsARecordingWithoutHTTP() async throws {
        let data = TestFolders.make()
        let service = try RecordsService.open(dataDirectory: data)
        let device = try DeviceIdentity.create(stateDirectory: data + "/device", deviceID: "DEV-000005", utcNow: 0)
        let r = SyntheticRecording.make(device, number: 7, segments: 3)
        // Enrolled: a recording is received under the device's pin (the routes give its key).
        let pin = ServiceStatement(kind: .pin, service: service.identity.fingerprint, deviceID: device.deviceID, utc: 0, custodySeq: 1,
                                   deviceKey: device.publicKey).signed(service.identity.sign)
        try service.catalogue.writeNow { tx in
            try tx.saveDevice(DeviceRecord(deviceID: device.deviceID, key: device.publicKey, state: .enrolled, lastSeq: 0, enrolledUTC: 0, pin: pin))
            try tx.savePin(PinRecord(deviceID: device.deviceID, key: device.publicKey, pin: pin, enrolledUTC: 0))
        }
        func name(_ file: String) throws -> UploadName { try #require(UploadName(device: device.deviceID, folder: r.id, file: file)) }
        for (file, bytes) in r.segments {
            // Two chunks each.
            let half = bytes.count / 2
            #expect(try await service.ingest.put(try name(file), offset: 0, bytes: Array(bytes[..<half])).offset == half)
            #expect(try await service.ingest.put(try name(file), offset: half, bytes: Array(bytes[half...])).offset == bytes.count)
            #expect(try await service.ingest.finish(try name(file), sha256: Hex.sha256(bytes), deviceKey: device.publicKey)
                    == .file(.init(state: .same, offset: bytes.count)))
        }
        _ = try await service.ingest.put(try name(r.signatureName), offset: 0, bytes: r.signature)
        _ = try await service.ingest.finish(try name(r.signatureName), sha256: Hex.sha256(r.signature), deviceKey: device.publicKey)
        _ = try await service.ingest.put(try name(r.manifestName), offset: 0, bytes: r.manifestBytes)
        // The wrong key: refused, and the manifest upload dropped.
        let stranger = try DeviceIdentity.create(stateDirectory: data + "/stranger", deviceID: "DEV-000005", utcNow: 0)
        await #expect(throws: Refusal.self) {
            try await service.ingest.finish(try name(r.manifestName), sha256: r.manifest.sha256, deviceKey: stranger.publicKey)
        }
        #expect(try await service.ingest.status(try name(r.manifestName), sha256: r.manifest.sha256).state == .absent)
        _ = try await service.ingest.put(try name(r.manifestName), offset: 0, bytes: r.manifestBytes)
        guard case .receipt(let receipt) = try await service.ingest.finish(try name(r.manifestName), sha256: r.manifest.sha256, deviceKey: device.publicKey) else {
            Issue.record("no receipt")
            return
        }
        let s = try ServiceStatement.verify(receipt, key: service.identity.publicKey)
        #expect(s.recordingID == r.id && s.manifestSHA256 == r.manifest.sha256)
        #expect(try Custody.check(service.catalogue, key: service.identity.publicKey).contains { $0.seq == s.custodySeq && $0.action == .receipt })
    }
}
