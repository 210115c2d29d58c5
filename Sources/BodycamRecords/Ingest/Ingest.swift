import BodycamEvidence
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Taking files in from a device, independent of HTTP: status, resumable chunks at exact offsets, and the
/// finish that checks the bytes' SHA-256, makes them durable, moves them into the blob store and records
/// them. A manifest's finish verifies the recording against the pinned key and commits it with its
/// custody entries and the signed receipt in one transaction. Write-once throughout.
public final class Ingest: Sendable {
    let catalogue: any Catalogue
    let blobs: any BlobStore
    let custody: Custody
    let identity: ServiceIdentity
    let clock: @Sendable () -> Int64
    /// Names with a chunk or finish in progress: a second request on the same name waits for nothing and
    /// is told to come back (503), so two writers never race on one upload. Held only for bookkeeping, never across I/O.
    private let busy = Mutex<Set<UploadName>>([])
    /// Chunks and finishes worked on at once: the rest are told to come back (503), so every answer comes
    /// while the camera still waits for it, however many dock at once.
    let gate = UploadGate()

    init(catalogue: any Catalogue, blobs: any BlobStore, custody: Custody, identity: ServiceIdentity, clock: @escaping @Sendable () -> Int64) {
        (self.catalogue, self.blobs, self.custody, self.identity, self.clock) = (catalogue, blobs, custody, identity, clock)
    }

    public enum Finished: Equatable, Sendable {
        /// A file held and verified.
        case file(RecordsWire.FileStatus)
        /// A recording committed (or committed before): the signed receipt.
        case receipt([UInt8])
    }

    /// A second request on a file being worked on is a camera that gave up waiting and asked again (or a
    /// twin): told to come back shortly, by when the first is done.
    private func reserve(_ name: UploadName) throws(Refusal) {
        let taken = busy.withLock { set in !set.insert(name).inserted }
        if taken { throw Refusal(.busy, "\(name.file): another request on this file is in progress; send again shortly", retryAfter: 2) }
    }

    private func release(_ name: UploadName) { _ = busy.withLock { $0.remove(name) } }

    /// Runs `body` holding `name` against every other node sharing the catalogue (after `reserve`, which
    /// covers this process): a second node's request on the same name is refused like a second local one.
    private func leased<T>(_ name: UploadName, _ body: () async throws -> T) async throws -> T {
        guard let lease = try await catalogue.tryLockUpload(name.description) else {
            throw Refusal(.busy, "\(name.file): another request on this file is in progress (another node); send again shortly", retryAfter: 2)
        }
        do {
            let result = try await body()
            await lease.release()
            return result
        } catch {
            await lease.release()
            throw error
        }
    }

    private func held(_ name: UploadName) async throws -> FileRecord? {
        try await catalogue.read { try $0.file(deviceID: name.device, folder: name.folder, file: name.file) }
    }

    // MARK: Status

    /// What is held under `name`, compared with the SHA-256 the camera has.
    public func status(_ name: UploadName, sha256: String) async throws -> RecordsWire.FileStatus {
        if let f = try await held(name) {
            return RecordsWire.FileStatus(state: f.sha256 == sha256 ? .same : .different, offset: f.bytes)
        }
        let blobs = self.blobs
        let size = try await Blocking.run { () throws -> Int? in try blobs.partialSize(name) }
        guard let size else { return RecordsWire.FileStatus(state: .absent, offset: 0) }
        return RecordsWire.FileStatus(state: .partial, offset: size)
    }

    // MARK: Chunks

    /// Appends one chunk at exactly `offset` (the bytes held). Already stored names are write-once.
    public func put(_ name: UploadName, offset: Int, bytes: [UInt8]) async throws -> RecordsWire.FileStatus {
        guard offset >= 0 else { throw Refusal(.badRequest, "offset must be 0 or more") }
        guard bytes.count <= RecordsWire.maxChunkBytes else { throw Refusal(.tooLarge, "a chunk carries at most \(RecordsWire.maxChunkBytes) bytes") }
        guard offset <= name.maxBytes - bytes.count else {
            throw Refusal(.tooLarge, "\(name.file): larger than any file of its kind (\(name.maxBytes) bytes)")
        }
        return try await gate.run {
            try reserve(name)
            defer { release(name) }
            return try await leased(name) { try await putHeld(name, offset: offset, bytes: bytes) }
        }
    }

    private func putHeld(_ name: UploadName, offset: Int, bytes: [UInt8]) async throws -> RecordsWire.FileStatus {
        if let f = try await held(name) {
            throw Refusal(.conflict, "\(name.file): stored already (\(f.bytes) bytes, write-once)")
        }
        let blobs = self.blobs
        let result: AppendResult
        do { result = try await Blocking.run { () throws -> AppendResult in try blobs.appendPartial(name, at: offset, bytes) } } catch {
            throw Refusal.storage(error, "writing \(name.file)")
        }
        switch result {
        case .appended(let size): return RecordsWire.FileStatus(state: .partial, offset: size)
        case .offsetMismatch(let held):
            throw Refusal(.conflict, "\(name.file): offset \(offset) is not the \(held) bytes held; send from \(held)")
        }
    }

    // MARK: Finish

    /// Finishes the upload of `name`, whose bytes must hash to `sha256`. For a manifest, `deviceKey` (the
    /// pinned key) must have signed it and every segment must be held; the answer is the signed receipt.
    public func finish(_ name: UploadName, sha256: String, deviceKey: PublicKey) async throws -> Finished {
        guard Hex.isDigest(sha256) else { throw Refusal(.badRequest, "sha256 must be 64 lower-case hex digits") }
        return try await gate.run {
            try reserve(name)
            defer { release(name) }
            return try await leased(name) { try await finishHeld(name, sha256: sha256, deviceKey: deviceKey) }
        }
    }

    private func finishHeld(_ name: UploadName, sha256: String, deviceKey: PublicKey) async throws -> Finished {
        let manifestID = EvidenceNames.parseManifestName(name.file)
        if let f = try await held(name) {
            guard f.sha256 == sha256 else { throw Refusal(.conflict, "\(name.file): held with other contents (write-once)") }
            // A camera that crashed before logging its receipt asks again: the same receipt.
            if let id = manifestID, let r = try await catalogue.read({ try $0.recording(id.text) }), r.manifestSHA256 == sha256 {
                return .receipt(r.receipt)
            }
            return .file(RecordsWire.FileStatus(state: .same, offset: f.bytes))
        }
        let blobs = self.blobs
        guard (try await Blocking.run { () throws -> Int? in try blobs.partialSize(name) }) != nil else {
            throw Refusal(.conflict, "\(name.file): nothing uploaded under this name")
        }
        if manifestID != nil {
            return try await finishManifest(name, sha256: sha256, key: deviceKey)
        }
        if name.folder == RecordsNames.auditFolder, let copy = RecordsNames.AuditCopy.parse(name.file) {
            // A copy named by a key is the pinned key's; one named by none comes from an older camera.
            if let fingerprint = copy.fingerprint, fingerprint != deviceKey.fingerprintHex {
                blobs.discardPartial(name)
                throw Refusal(.integrity, "\(name.file): names the key \(fingerprint), but \(name.device) is pinned to \(deviceKey.fingerprintHex)")
            }
            if copy.isHead { return try await finishAuditHead(name, copy, sha256: sha256, key: deviceKey) }
        }
        // A segment, a manifest signature or an audit trail copy: hash as held, then store.
        let hashed: (sha256: String, bytes: Int)
        do { hashed = try await Blocking.run { () throws -> (sha256: String, bytes: Int) in try blobs.hashPartial(name) } } catch {
            throw Refusal.storage(error, "reading \(name.file)")
        }
        try refuseMismatch(name, hashed.sha256, sha256)
        if case .signature = EvidenceNames.kind(of: name.file) {
            let bytes = try await readUpload(name, limit: 4096)
            guard Signature(fileBytes: bytes) != nil else {
                blobs.discardPartial(name)
                throw Refusal(.integrity, "\(name.file): not one base64 Ed25519 signature line")
            }
        }
        try await commit(name, sha256: sha256)
        let record = FileRecord(deviceID: name.device, folder: name.folder, file: name.file, sha256: sha256, bytes: hashed.bytes, receivedUTC: clock())
        try await catalogue.write { tx in
            if try tx.file(deviceID: record.deviceID, folder: record.folder, file: record.file) == nil { try tx.insertFile(record) }
        }
        return .file(RecordsWire.FileStatus(state: .same, offset: hashed.bytes))
    }

    /// Different bytes than the camera hashed: the upload is dropped so it can be sent again from 0.
    private func refuseMismatch(_ name: UploadName, _ actual: String, _ expected: String) throws(Refusal) {
        guard actual == expected else {
            blobs.discardPartial(name)
            throw Refusal(.integrity, "\(name.file): the bytes received hash to \(actual), not \(expected); the upload was dropped, send it again")
        }
    }

    private func readUpload(_ name: UploadName, limit: Int) async throws -> [UInt8] {
        let blobs = self.blobs
        do { return try await Blocking.run { () throws -> [UInt8] in try blobs.readPartial(name, limit: limit) } } catch {
            if let e = error as? IOError, e.errno == EFBIG { throw Refusal(.tooLarge, "\(name.file): larger than any file of its kind") }
            throw Refusal.storage(error, "reading \(name.file)")
        }
    }

    private func commit(_ name: UploadName, sha256: String) async throws {
        let blobs = self.blobs
        do { try await Blocking.run { () throws in try blobs.commitPartial(name, sha256: sha256) } } catch {
            throw Refusal.storage(error, "storing \(name.file)")
        }
    }

    private func heldFile(_ device: String, _ folder: String, _ file: String) async throws -> FileRecord? {
        try await catalogue.read { try $0.file(deviceID: device, folder: folder, file: file) }
    }

    // MARK: Manifests

    private func finishManifest(_ name: UploadName, sha256: String, key: PublicKey) async throws -> Finished {
        let bytes = try await readUpload(name, limit: RecordingManifest.maxFileBytes)
        try refuseMismatch(name, Hex.sha256(bytes), sha256)
        let manifest: RecordingManifest
        do { manifest = try await verifyManifest(name, bytes: bytes, key: key) } catch let refusal as Refusal {
            // Dropped so a corrected manifest can be sent; nothing was catalogued.
            blobs.discardPartial(name)
            throw refusal
        }
        try await commit(name, sha256: sha256)
        let utc = clock()
        let (custody, identity) = (self.custody, self.identity)
        let file = FileRecord(deviceID: name.device, folder: name.folder, file: name.file, sha256: sha256, bytes: bytes.count, receivedUTC: utc)
        let segmentBytes = manifest.segments.reduce(0) { $0 + $1.bytes }
        return .receipt(try await catalogue.write { tx in
            if let existing = try tx.recording(manifest.recordingID) { return existing.receipt }
            // The key is still the device's pinned one at commit: a revocation committed since the request was
            // authenticated counts, so a revoked key never has anything received under it afterwards.
            guard let device = try tx.device(manifest.deviceID), device.state == .enrolled, device.key == key else {
                throw Refusal(.forbidden, "\(manifest.deviceID) is revoked, or enrolled with another key than \(key.fingerprint)")
            }
            try tx.insertFile(file)
            try custody.append(tx, utc: utc, actor: manifest.deviceID, action: .upload, deviceID: manifest.deviceID,
                               recordingID: manifest.recordingID, officer: manifest.officer,
                               detail: "recording received: manifest sha256 \(sha256), \(manifest.segments.count) segment(s), \(segmentBytes) bytes, signature verified with the pinned key \(key.fingerprint)")
            // The receipt names the device key the manifest was verified with (the pin it was received under).
            let statement = ServiceStatement(kind: .receipt, service: identity.fingerprint, deviceID: manifest.deviceID, utc: utc,
                                             custodySeq: try custody.nextSeq(tx), deviceKey: key, recordingID: manifest.recordingID,
                                             manifestSHA256: sha256).signed(identity.sign)
            try custody.append(tx, utc: utc, actor: "service", action: .receipt, deviceID: manifest.deviceID, recordingID: manifest.recordingID,
                               officer: manifest.officer, detail: "receipt issued: statement sha256 \(Hex.sha256(statement))")
            try tx.insertRecording(RecordingRecord(
                recordingID: manifest.recordingID, deviceID: manifest.deviceID, officer: manifest.officer, trigger: manifest.trigger,
                startUTC: manifest.startUTC, endUTC: manifest.endUTC, markers: manifest.markers.count, frames: manifest.frames,
                bytes: segmentBytes, manifestSHA256: sha256, receivedUTC: utc, receipt: statement, pinFingerprint: key.fingerprintHex))
            return statement
        })
    }

    /// Parses the manifest strictly and checks it against what is held: it names this folder, its `.sig`
    /// is held and verifies with the pinned key, and every segment it lists is held with its SHA-256 and size.
    private func verifyManifest(_ name: UploadName, bytes: [UInt8], key: PublicKey) async throws -> RecordingManifest {
        let manifest: RecordingManifest
        do { manifest = try RecordingManifest.parse(bytes) } catch { throw Refusal(.integrity, "\(name.file): \(error.message)") }
        guard manifest.deviceID == name.device, manifest.recordingID == name.folder, let id = EvidenceNames.RecordingID.parse(name.folder) else {
            throw Refusal(.integrity, "\(name.file): names recording \(manifest.recordingID) of \(manifest.deviceID), not \(name.folder)")
        }
        let (device, folder, sigName) = (name.device, name.folder, EvidenceNames.signatureName(id))
        let wanted = [sigName] + manifest.segments.map(\.file)
        let held = try await catalogue.read { tx -> [String: FileRecord] in
            var out: [String: FileRecord] = [:]
            for file in wanted { out[file] = try tx.file(deviceID: device, folder: folder, file: file) }
            return out
        }
        guard let sigFile = held[sigName] else {
            throw Refusal(.integrity, "\(name.file): its signature (\(sigName)) is not held: send it before the manifest")
        }
        let blobs = self.blobs
        let sigBytes: [UInt8]
        do { sigBytes = try await Blocking.run { () throws -> [UInt8] in try blobs.readBlob(sigFile.sha256, limit: 4096) } } catch {
            throw Refusal.storage(error, "reading the signature")
        }
        guard let signature = Signature(fileBytes: sigBytes), key.isValidSignature(signature, for: bytes) else {
            throw Refusal(.integrity, "\(name.file): its signature does not verify with the key pinned for \(name.device) (\(key.fingerprint))")
        }
        for s in manifest.segments {
            guard let f = held[s.file] else {
                throw Refusal(.integrity, "\(name.file): segment \(s.index) (\(s.file)) is not held: send the segments before the manifest")
            }
            guard f.sha256 == s.sha256, f.bytes == s.bytes else {
                throw Refusal(.integrity, "\(name.file): segment \(s.index) (\(s.file)) is held with SHA-256 \(f.sha256) and \(f.bytes) bytes, the manifest says \(s.sha256) and \(s.bytes)")
            }
        }
        return manifest
    }

    // MARK: Audit trail copies

    /// A head copy: its trail copy (the same name's) held, and signed by the pinned key for exactly the
    /// entries its name says.
    private func finishAuditHead(_ name: UploadName, _ copy: RecordsNames.AuditCopy, sha256: String, key: PublicKey) async throws -> Finished {
        let bytes = try await readUpload(name, limit: 4096)
        try refuseMismatch(name, Hex.sha256(bytes), sha256)
        let entries = copy.entries
        let trailName = copy.trail.file
        let trailFile = try await heldFile(name.device, name.folder, trailName)
        let blobs = self.blobs
        do {
            let head: AuditHead
            do { head = try AuditHead.parse(bytes) } catch { throw Refusal(.integrity, "\(name.file): \(error.message)") }
            guard head.entries == entries else {
                throw Refusal(.integrity, "\(name.file): signed for \(head.entries) entries, its name says \(entries)")
            }
            guard let trailFile else { throw Refusal(.integrity, "\(name.file): the trail copy \(trailName) is not held: send it before its head") }
            let trailBytes = try await Blocking.run { () throws -> [UInt8] in try blobs.readBlob(trailFile.sha256, limit: AuditTrail.maxFileBytes) }
            do throws(EvidenceError) {
                let trail = try AuditTrail.parse(trailBytes)
                guard trail.lines.count == entries else { throw EvidenceError("the trail copy has \(trail.lines.count) entries, its name says \(entries)") }
                try trail.check(head: head, key: key, deviceID: name.device)
            } catch { throw Refusal(.integrity, "\(name.file): \(error.message)") }
        } catch let refusal as Refusal {
            blobs.discardPartial(name)
            throw refusal
        }
        try await commit(name, sha256: sha256)
        let utc = clock()
        let custody = self.custody
        let file = FileRecord(deviceID: name.device, folder: name.folder, file: name.file, sha256: sha256, bytes: bytes.count, receivedUTC: utc)
        try await catalogue.write { tx in
            guard try tx.file(deviceID: file.deviceID, folder: file.folder, file: file.file) == nil else { return }
            try tx.insertFile(file)
            try custody.append(tx, utc: utc, actor: file.deviceID, action: .upload, deviceID: file.deviceID,
                               detail: "audit trail copy received: \(entries) entries, signed head verified with the pinned key \(key.fingerprint)")
        }
        return .file(RecordsWire.FileStatus(state: .same, offset: bytes.count))
    }
}
