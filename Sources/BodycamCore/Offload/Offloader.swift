import Foundation

/// Sends finalized recordings to central records while the camera is docked, a slice at a time as time
/// passes (so a transfer takes time, and an undock can interrupt it anywhere):
/// segments first, then the signature, then the manifest; each file is verified at the destination
/// before it is put in place; a recording's local files are deleted only once all of its files are
/// verified there. The audit trail and device.json follow at the end of each session. A new dock starts
/// again from what is not yet verified.
public final class Offloader {
    public struct Job: Equatable {
        public var recording: String?
        public var file: String
        public var localPath: String
        public var sha256: String
        public var bytes: Int
    }

    public struct Progress: Equatable, Sendable {
        public var bytesDone = 0, bytesTotal = 0, filesDone = 0, filesTotal = 0, recordingsDone = 0, recordingsTotal = 0
    }

    public enum Outcome: Equatable {
        case fileVerified(Job)
        case recordingOffloaded(id: String, freedBytes: Int64)
        case failed(String)
        case complete
    }

    public let target: RecordsTarget
    private let recordingsDirectory: String
    private let stateDirectory: String
    private let deviceID: String
    private var jobs: [Job] = []
    private var next = 0
    private var transfer: RecordsTransfer?
    private var source: Int32 = -1
    private var sent = 0
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
    public private(set) var progress = Progress()
    public private(set) var isActive = false
    private var pendingTail = false // device.json and the audit trail still to send
    private let checkpoint: () -> Void

    /// - Parameter checkpoint: signs the audit trail before it is sent, so the copy ends signed.
    public init(target: RecordsTarget, recordingsDirectory: String, stateDirectory: String, deviceID: String,
                checkpoint: @escaping () -> Void) {
        self.checkpoint = checkpoint
        self.target = target
        self.recordingsDirectory = recordingsDirectory
        self.stateDirectory = stateDirectory
        self.deviceID = deviceID
    }

    deinit {
        transfer?.abandon()
        if source >= 0 { close(source) }
        buffer.deallocate()
    }

    /// Plans a session: every file of every finalized recording not yet verified at the target.
    public func start() {
        jobs = []
        next = 0
        progress = Progress()
        let names = PosixFile.list(recordingsDirectory).sorted()
        for m in names where m.hasSuffix(".manifest.json") {
            let id = String(m.dropLast(".manifest.json".count))
            let manifestPath = recordingsDirectory + "/" + m
            guard let bytes = FileBytes.read(manifestPath),
                  let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { continue }
            var recordingJobs: [Job] = []
            for s in json["segments"] as? [[String: Any]] ?? [] {
                let file = s["file"] as? String ?? ""
                recordingJobs.append(Job(recording: id, file: file, localPath: recordingsDirectory + "/" + file,
                                         sha256: s["sha256"] as? String ?? "", bytes: s["bytes"] as? Int ?? 0))
            }
            for f in [RecordingManifest.signatureName(id), m] {
                let p = recordingsDirectory + "/" + f
                recordingJobs.append(Job(recording: id, file: f, localPath: p, sha256: FileBytes.sha256(p) ?? "",
                                         bytes: Int(PosixFile.size(p) ?? 0)))
            }
            jobs += recordingJobs
            progress.recordingsTotal += 1
        }
        progress.filesTotal = jobs.count
        progress.bytesTotal = jobs.reduce(0) { $0 + $1.bytes }
        pendingTail = true
        isActive = true
    }

    /// Copies up to `budget` bytes. Returns what happened on the way (files verified, recordings done).
    public func work(budget: Int, onOutcome: (Outcome) -> Void) {
        var left = budget
        while isActive && left > 0 {
            guard next < jobs.count else {
                if pendingTail {
                    pendingTail = false
                    checkpoint()
                    addTailJobs() // audit trail and device identity, as they are at the end of the session
                    continue
                }
                isActive = false
                onOutcome(.complete)
                return
            }
            let job = jobs[next]
            if transfer == nil {
                if sent == 0 && target.hasVerified(device: deviceID, recording: job.recording, file: job.file, sha256: job.sha256) {
                    finishJob(job, onOutcome)
                    continue
                }
                do {
                    source = open(job.localPath, O_RDONLY | O_CLOEXEC)
                    guard source >= 0 else { throw IOError(operation: "open", path: job.localPath, errno: errno) }
                    transfer = try target.begin(device: deviceID, recording: job.recording, file: job.file)
                    sent = 0
                } catch {
                    fail("\(error)", onOutcome)
                    return
                }
            }
            // Only the bytes planned: the audit trail grows while we send it.
            let n = read(source, buffer.baseAddress, min(buffer.count, left, job.bytes - sent))
            if n < 0 { fail("read \(job.localPath): errno \(errno)", onOutcome); return }
            do {
                if n > 0 {
                    try transfer!.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                    sent += n
                    left -= n
                    progress.bytesDone += job.recording == nil ? 0 : n
                    continue
                }
                // End of the file: make it durable there, check it there, put it in place.
                guard try transfer!.finish(sha256: job.sha256) else {
                    transfer = nil
                    fail("\(job.file): the copy at the records does not match its SHA-256", onOutcome)
                    return
                }
                transfer = nil
                finishJob(job, onOutcome)
            } catch {
                fail("\(error)", onOutcome)
                return
            }
        }
    }

    /// Undocked: stop where we are. What is verified stays verified; the current file starts over.
    public func interrupt() {
        transfer?.abandon()
        transfer = nil
        if source >= 0 { close(source); source = -1 }
        sent = 0
        isActive = false
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
            let files = jobs.filter { $0.recording == id }
            var freed: Int64 = 0
            for f in files {
                freed += PosixFile.size(f.localPath) ?? 0
                unlink(f.localPath)
            }
            try? PosixFile.syncDirectory(recordingsDirectory)
            progress.recordingsDone += 1
            onOutcome(.recordingOffloaded(id: id, freedBytes: freed))
        }
    }

    private func addTailJobs() {
        for (file, path) in [("device.json", stateDirectory + "/device.json"), (AuditLog.fileName, stateDirectory + "/" + AuditLog.fileName)] {
            jobs.append(Job(recording: nil, file: file, localPath: path, sha256: FileBytes.sha256(path) ?? "",
                            bytes: Int(PosixFile.size(path) ?? 0)))
        }
    }

    private func fail(_ message: String, _ onOutcome: (Outcome) -> Void) {
        interrupt()
        onOutcome(.failed(message))
    }
}
