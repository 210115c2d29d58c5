import BodycamEvidence
import Crypto
#if canImport(Glibc)
import Glibc
import BodycamEvidence
#endif

/// Sends finalized recordings to central records while the camera is docked, a slice at a time as time
/// passes (so a transfer takes time, and an undock can interrupt it anywhere).
///
/// It trusts only signed data: a recording is offloaded only if its manifest parses, names itself
/// correctly and verifies against the device's own key, and every file it lists is a regular file of
/// the size it says; everything else stays on the camera, reported. File names come from the manifest
/// only after `EvidenceNames` accepted them (no separators, no `..`), and local files are opened without
/// following links. Per recording: segments first, then the signature, then the manifest; each file is
/// verified at the destination before it is put in place; the recording's local files are deleted only
/// once all of them are verified there. At the end of a session the audit trail, cut at a fresh signed
/// checkpoint, and its head follow. A new dock starts again from what is not yet verified.
public final class Offloader {
    public struct Job: Equatable {
        /// The recording (nil for the audit trail and its head).
        public var recording: String?
        /// Folder at the records: the recording id, or `audit`.
        public var folder: String
        public var file: String
        public var sha256: String
        public var bytes: Int
        /// Sent from memory (signature, manifest, audit copy) rather than from a local file.
        var data: [UInt8]?
    }

    public struct Progress: Equatable, Sendable {
        public var bytesDone = 0, bytesTotal = 0, filesDone = 0, filesTotal = 0, recordingsDone = 0, recordingsTotal = 0
    }

    public enum Outcome: Equatable {
        /// The records admitted the camera; with a records service, its signed check-in.
        case admitted(checkin: [UInt8]?)
        case fileVerified(Job)
        case recordingOffloaded(id: String, freedBytes: Int64)
        /// A recording that turned out not to match its manifest on the way (a damaged local file): it stays
        /// on the camera, and the session goes on with the others.
        case skipped(Skipped)
        case failed(String)
        case complete
    }

    /// A recording the offloader will not send, and why (it stays on the camera).
    public struct Skipped: Equatable, Sendable {
        public var name: String
        public var reason: String
    }

    public let target: RecordsTarget
    private let recordingsDirectory: String
    private let identity: DeviceIdentity
    /// device.json as the camera has it: what the records pin on first delivery.
    private let deviceInfo: DeviceInfo
    private var jobs: [Job] = []
    private var next = 0
    private var transfer: RecordsTransfer?
    private var source: Int32 = -1
    private var directory: Int32 = -1
    private var sent = 0
    // One request a chunk to a records service: as large as the protocol allows, so round trips do not dominate.
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: RecordsWire.maxChunkBytes, alignment: 64)
    public private(set) var progress = Progress()
    public private(set) var isActive = false
    /// Recordings found at the start of the session that will not be sent.
    public private(set) var skipped: [Skipped] = []
    private var pendingTail = false // the audit trail and its head still to send
    private var admitted = false
    private let checkpoint: () -> AuditHead?
    private let logReceipt: (ServiceStatement, [UInt8]) -> Bool
    private let auditPath: String

    /// - Parameters:
    ///   - checkpoint: signs the audit trail and returns its head, so the copy sent ends signed.
    ///   - logReceipt: writes a verified receipt into the audit trail durably; true once it is there. A
    ///     recording's local copy is deleted only after that.
    public init(target: RecordsTarget, recordingsDirectory: String, auditPath: String, identity: DeviceIdentity,
                deviceInfo: DeviceInfo, checkpoint: @escaping () -> AuditHead?,
                logReceipt: @escaping (ServiceStatement, [UInt8]) -> Bool = { _, _ in true }) {
        self.checkpoint = checkpoint
        self.logReceipt = logReceipt
        self.target = target
        self.recordingsDirectory = recordingsDirectory
        self.auditPath = auditPath
        self.identity = identity
        self.deviceInfo = deviceInfo
    }

    deinit {
        interrupt()
        buffer.deallocate()
    }

    /// Plans a session: every file of every finalized, verifiable recording not yet verified at the target.
    public func start() {
        interrupt()
        jobs = []
        next = 0
        skipped = []
        admitted = false
        progress = Progress()
        directory = retrying { open(recordingsDirectory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        let deviceID = identity.deviceID
        for name in PosixFile.list(recordingsDirectory).sorted() {
            guard case .manifest(let id) = EvidenceNames.kind(of: name) else { continue }
            do throws(EvidenceError) {
                guard id.deviceID == deviceID else { throw EvidenceError("belongs to device \(id.deviceID), not \(deviceID)") }
                let signed = try SignedManifest.read(directory: recordingsDirectory, id: id, dirfd: directory)
                guard signed.isSigned(by: identity.publicKey) else {
                    throw EvidenceError("signature does not verify with this camera's key (\(identity.publicKey.fingerprint))")
                }
                var recordingJobs: [Job] = []
                for s in signed.manifest.segments {
                    guard let (fd, size) = try? FileBytes.openRegular(s.file, at: directory) else {
                        throw EvidenceError("\(s.file): missing or not a regular file")
                    }
                    close(fd)
                    guard size == Int64(s.bytes) else { throw EvidenceError("\(s.file): \(size) bytes, the manifest says \(s.bytes)") }
                    recordingJobs.append(Job(recording: id.text, folder: id.text, file: s.file, sha256: s.sha256, bytes: s.bytes))
                }
                let sig = signed.signature.fileBytes
                recordingJobs.append(Job(recording: id.text, folder: id.text, file: EvidenceNames.signatureName(id),
                                         sha256: Hex.sha256(sig), bytes: sig.count, data: sig))
                recordingJobs.append(Job(recording: id.text, folder: id.text, file: name, sha256: signed.sha256,
                                         bytes: signed.bytes.count, data: signed.bytes))
                jobs += recordingJobs
                progress.recordingsTotal += 1
            } catch {
                skipped.append(Skipped(name: name, reason: error.message))
            }
        }
        progress.filesTotal = jobs.count
        progress.bytesTotal = jobs.reduce(0) { $0 + $1.bytes }
        pendingTail = true
        isActive = true
    }

    /// Presents the camera to the records once per session, before a byte is stored (a refusal ends the
    /// session). Done at the dock itself, so the check-in comes before anything the officer does next.
    @discardableResult
    public func admit(_ onOutcome: (Outcome) -> Void) -> Bool {
        guard isActive else { return false }
        if admitted { return true }
        do throws(RecordsError) {
            let checkin = try target.admit(device: deviceInfo)
            admitted = true
            onOutcome(.admitted(checkin: checkin))
            return true
        } catch {
            fail(error.message, onOutcome)
            return false
        }
    }

    /// Copies up to `budget` bytes. Returns what happened on the way (files verified, recordings done).
    public func work(budget: Int, onOutcome: (Outcome) -> Void) {
        var left = budget
        while isActive && left > 0 {
            guard next < jobs.count else {
                if pendingTail {
                    pendingTail = false
                    do { try addTailJobs() } catch {
                        fail(error.message, onOutcome)
                        return
                    }
                    continue
                }
                isActive = false
                closeDirectory()
                onOutcome(.complete)
                return
            }
            let job = jobs[next]
            do throws(RecordsError) {
                if transfer == nil {
                    guard admit(onOutcome) else { return }
                    switch try target.stored(device: identity.deviceID, folder: job.folder, file: job.file, sha256: job.sha256) {
                    case .same:
                        // Already held. A manifest still needs its receipt before anything is deleted: the
                        // camera may have stopped between the service's commit and logging the receipt.
                        if let key = target.receiptKey, let id = job.recording, job.file == RecordingManifest.jsonName(id) {
                            let t = try target.begin(device: identity.deviceID, folder: job.folder, file: job.file)
                            guard try t.finish(sha256: job.sha256) else {
                                throw RecordsError("\(job.folder)/\(job.file): the records no longer confirm it: the camera keeps its copy")
                            }
                            try confirm(t.receipt, key: key, recording: id, manifestSHA256: job.sha256)
                        }
                        finishJob(job, onOutcome)
                        continue
                    case .different:
                        throw RecordsError("\(job.folder)/\(job.file): the records hold different contents under that name (write-once): refused",
                                           refusal: true)
                    case .absent:
                        break
                    }
                    if job.data == nil {
                        do { source = try FileBytes.openRegular(job.file, at: directory).fd } catch {
                            throw RecordsError("\(recordingsDirectory)/\(job.file): \(error)")
                        }
                    }
                    let t = try target.begin(device: identity.deviceID, folder: job.folder, file: job.file)
                    transfer = t
                    // Resume where an interrupted transfer stopped: nothing is sent twice.
                    sent = min(max(0, t.offset), job.bytes)
                    progress.bytesDone += job.recording == nil ? 0 : sent
                }
                // Only the bytes planned.
                let want = min(buffer.count, left, job.bytes - sent)
                let n: Int
                if let data = job.data {
                    n = want
                    data.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + sent, byteCount: n) }
                } else {
                    n = retrying { pread(source, buffer.baseAddress, want, off_t(sent)) }
                    if n < 0 { throw RecordsError(IOError(operation: "read", path: recordingsDirectory + "/" + job.file, errno: errno)) }
                }
                if n > 0 {
                    try transfer!.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    sent += n
                    left -= n
                    progress.bytesDone += job.recording == nil ? 0 : n
                    if sent < job.bytes { continue }
                }
                // End of the file: make it durable there, check it there, put it in place.
                guard try transfer!.finish(sha256: job.sha256) else {
                    transfer = nil
                    guard let id = job.recording else { throw RecordsError("\(job.file): the copy at the records does not match its SHA-256") }
                    skip(recording: id, reason: "\(job.file): the bytes sent do not match the SHA-256 in its manifest (damaged on the camera?)",
                         onOutcome)
                    continue
                }
                let receipt = transfer!.receipt
                transfer = nil
                if let key = target.receiptKey, let id = job.recording, job.file == RecordingManifest.jsonName(id) {
                    try confirm(receipt, key: key, recording: id, manifestSHA256: job.sha256)
                }
                finishJob(job, onOutcome)
            } catch {
                fail(error.message, onOutcome)
                return
            }
        }
    }

    /// A recording is deleted from the camera only once the records' receipt for exactly it (this
    /// recording, this manifest), signed by the key pinned at enrolment, is in the audit trail.
    private func confirm(_ receipt: [UInt8]?, key: PublicKey, recording id: String, manifestSHA256: String) throws(RecordsError) {
        guard let receipt else { throw RecordsError("\(id): the records gave no receipt: the camera keeps its copy") }
        let s: ServiceStatement
        do { s = try ServiceStatement.verify(receipt, key: key) } catch {
            throw RecordsError("\(id): the receipt does not verify (\(error.message)): the camera keeps its copy", refusal: true)
        }
        guard s.kind == .receipt, s.deviceID == identity.deviceID, s.recordingID == id, s.manifestSHA256 == manifestSHA256 else {
            throw RecordsError("\(id): the receipt is for something else: the camera keeps its copy", refusal: true)
        }
        guard logReceipt(s, receipt) else { throw RecordsError("\(id): could not log the receipt: the camera keeps its copy") }
    }

    /// Gives up on one recording for this session (its files stay on the camera) and moves to the next.
    private func skip(recording id: String, reason: String, _ onOutcome: (Outcome) -> Void) {
        if source >= 0 { close(source); source = -1 }
        sent = 0
        while next < jobs.count && jobs[next].recording == id { next += 1 }
        let s = Skipped(name: RecordingManifest.jsonName(id), reason: reason)
        skipped.append(s)
        onOutcome(.skipped(s))
    }

    /// Undocked: stop where we are. What is verified stays verified; the current file starts over.
    public func interrupt() {
        transfer?.abandon()
        transfer = nil
        if source >= 0 { close(source); source = -1 }
        sent = 0
        isActive = false
        closeDirectory()
    }

    private func closeDirectory() {
        if directory >= 0 { close(directory); directory = -1 }
    }

    private func finishJob(_ job: Job, _ onOutcome: (Outcome) -> Void) {
        if source >= 0 { close(source); source = -1 }
        if sent == 0 { progress.bytesDone += job.recording == nil ? 0 : job.bytes }
        sent = 0
        progress.filesDone += job.recording == nil ? 0 : 1
        next += 1
        onOutcome(.fileVerified(job))
        // The manifest goes last: once it is verified, so is every file of the recording.
        if let id = job.recording, job.file == RecordingManifest.jsonName(id) {
            var freed: Int64 = 0
            for f in jobs where f.recording == id {
                freed += Int64(f.bytes)
                unlinkat(directory, f.file, 0)
            }
            fsync(directory)
            progress.recordingsDone += 1
            onOutcome(.recordingOffloaded(id: id, freedBytes: freed))
        }
    }

    /// The audit trail as of a fresh checkpoint, and the signed head of exactly those entries.
    private func addTailJobs() throws(RecordsError) {
        guard let head = checkpoint() else { throw RecordsError("could not sign the audit trail for the records") }
        let trail: [UInt8]
        do { trail = Array(try FileBytes.contents(auditPath, limit: AuditTrail.maxFileBytes).prefix(head.bytes)) } catch {
            throw RecordsError("\(error)")
        }
        guard trail.count == head.bytes else { throw RecordsError("\(auditPath): shorter than its signed head") }
        let headBytes = head.fileBytes
        // Named by the key that signed the head too: a trail begun under a new key never meets the old one's copies.
        let fingerprint = identity.publicKey.fingerprintHex
        jobs.append(Job(recording: nil, folder: RecordsNames.auditFolder, file: RecordsNames.auditCopy(entries: head.entries, fingerprint: fingerprint),
                        sha256: Hex.sha256(trail), bytes: trail.count, data: trail))
        jobs.append(Job(recording: nil, folder: RecordsNames.auditFolder, file: RecordsNames.auditHeadCopy(entries: head.entries, fingerprint: fingerprint),
                        sha256: Hex.sha256(headBytes), bytes: headBytes.count, data: headBytes))
    }

    private func fail(_ message: String, _ onOutcome: (Outcome) -> Void) {
        interrupt()
        onOutcome(.failed(message))
    }
}
