import BodycamCore
import BodycamEvidence
import Foundation
import Synchronization

/// A fleet through one shift, against the records nodes given: provision officers and enrolment tokens,
/// run every camera's shift (each checked out to its officer at a dock first), then the dock storm: every
/// camera docks within `dockWindow` seconds, spread over the nodes; a camera whose node fails or refuses
/// docks again (twice at a node, then the next). Then the cross-check. Each camera is a `bodycam run` process: the real
/// firmware, frame path and dock client, not a shortcut.
public final class FleetRun: @unchecked Sendable {
    public struct Config: Sendable {
        public var executable: String
        public var work: String
        public var plan: FleetPlan
        public var records: [String]
        public var adminToken: String
        public var caFile: String?
        /// Options every camera run gets (frame size, rate, ...).
        public var cameraArguments: [String]
        /// The shift's start, camera UTC (nanoseconds).
        public var utcStart: Int64
        public var shiftSeconds: Int
        /// Shifts simulated at once (each is CPU-bound: about the number of cores).
        public var jobs: Int
        /// Docks are spread over this many seconds of wall time (0: all at once).
        public var dockWindow: Double
        /// Docks per camera before its recordings count as undelivered (two at a node, then the next; after a pause
        /// that doubles from 1 s to at most 30 s).
        public var dockAttempts: Int
        public var seed: UInt64
        public init(executable: String, work: String, plan: FleetPlan, records: [String], adminToken: String, caFile: String?,
                    cameraArguments: [String], utcStart: Int64, shiftSeconds: Int, jobs: Int, dockWindow: Double, dockAttempts: Int, seed: UInt64) {
            (self.executable, self.work, self.plan, self.records, self.adminToken, self.caFile) = (executable, work, plan, records, adminToken, caFile)
            (self.cameraArguments, self.utcStart, self.shiftSeconds, self.jobs) = (cameraArguments, utcStart, shiftSeconds, jobs)
            (self.dockWindow, self.dockAttempts, self.seed) = (dockWindow, dockAttempts, seed)
        }
    }

    /// What one camera did: what it made in its shift, and how its docks went.
    public struct CameraResult: Sendable {
        public var deviceID: String
        public var officer: String
        public var storage: String
        /// Recording id → the SHA-256 of the manifest the camera signed.
        public var manifests: [String: String] = [:]
        /// Recording id → bytes of its segments.
        public var recordingBytes: [String: Int] = [:]
        public var bytesRecorded: Int { recordingBytes.values.reduce(0, +) }
        public var assignedOfficer: String?
        public var shiftSeconds = 0.0
        public var shiftExit: Int32 = 0
        /// Wall-clock moments (monotonic seconds) of the first dock and of each recording's receipt.
        public var firstDock: Double?
        public var receipts: [String: Double] = [:]
        public var dockAttempts: [String] = []
        /// Busy answers (503) the camera waited out on its docks, and the seconds it waited.
        public var busyAnswers = 0
        public var busySeconds = 0
        public var lastDockEnded: Double?
        /// Recordings still on the camera after its last dock (its final `status`).
        public var localRecordingsLeft: Int?
        /// Failures the camera reported: offload failures, alerts, errors, exit statuses.
        public var problems: [String] = []
    }

    public enum Phase: String, Sendable { case provisioning, shift = "shift", dockStorm = "dock-storm", crossCheck = "cross-check", done }

    public struct Progress: Sendable {
        public var phase: Phase
        public var shiftsDone = 0
        public var docking = 0
        public var docked = 0
        public var receipts = 0
        public var bytesRecorded = 0
    }

    public let config: Config
    private let state: Mutex<(results: [CameraResult], progress: Progress)>
    private let onProgress: @Sendable (Progress) -> Void

    public init(_ config: Config, onProgress: @escaping @Sendable (Progress) -> Void) {
        self.config = config
        self.onProgress = onProgress
        let results = config.plan.cameras.map { c in
            CameraResult(deviceID: c.deviceID, officer: c.officer, storage: config.work + "/cameras/" + c.deviceID + "/storage")
        }
        state = Mutex((results, Progress(phase: .provisioning)))
    }

    private func update(_ body: (inout [CameraResult], inout Progress) -> Void) {
        let p = state.withLock { s -> Progress in
            body(&s.results, &s.progress)
            return s.progress
        }
        onProgress(p)
    }

    public var results: [CameraResult] { state.withLock { $0.results } }

    // MARK: Phases

    /// Officers and one enrolment token per camera, through the first node (all nodes share one catalogue).
    /// Each camera presents its token at every dock until it is enrolled (a camera whose first dock failed
    /// enrols at the next); once enrolled it ignores it.
    public func provision() throws {
        let admin = try RecordsAdmin(url: config.records[0], token: config.adminToken, caFile: config.caFile)
        for o in config.plan.officers { try admin.addOfficer(o, name: "Officer \(o)") }
        var tokens: [String: String] = [:]
        for c in config.plan.cameras { tokens[c.deviceID] = try admin.enrolmentToken(c.deviceID) }
        self.tokens.withLock { $0 = tokens }
    }

    private let tokens = Mutex<[String: String]>([:])

    /// Two docks at a node before the next: an upload under way is staged at the node that took it, so a
    /// camera that goes back there resumes it where moving would start the file again.
    private func node(_ camera: Int, attempt: Int) -> String { config.records[(camera + attempt / 2) % config.records.count] }

    private func folder(_ deviceID: String) -> String { config.work + "/cameras/" + deviceID }

    private func baseArguments(_ camera: FleetPlan.Camera, utc: Int64, node: String) -> [String] {
        ["--storage", folder(camera.deviceID) + "/storage", "--device-id", camera.deviceID, "--records", node,
         "--utc-start", UTC.iso(utc), "--clock", "virtual", "--stats-every", "0s", "--offload-rate", "10000000000"]
            + (tokens.withLock { $0[camera.deviceID] }.map { ["--enrol-token", $0] } ?? [])
            + (config.caFile.map { ["--records-ca", $0] } ?? []) + config.cameraArguments
    }

    /// Every camera's shift, `jobs` at a time: checked out at a dock (enrolment on the way), then incidents.
    public func runShifts() {
        update { _, p in p.phase = .shift }
        let next = Mutex(0)
        let cameras = config.plan.cameras
        let group = DispatchGroup()
        for _ in 0..<max(1, min(config.jobs, cameras.count)) {
            group.enter()
            Thread {
                defer { group.leave() }
                while true {
                    let i = next.withLock { n -> Int in defer { n += 1 }; return n }
                    guard i < cameras.count else { return }
                    self.runShift(i)
                }
            }.start()
        }
        group.wait()
    }

    private func runShift(_ i: Int) {
        let camera = config.plan.cameras[i]
        let dir = folder(camera.deviceID)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let outcome: CameraProcess.Outcome
        do {
            outcome = try CameraProcess.run(executable: config.executable,
                                            arguments: baseArguments(camera, utc: config.utcStart, node: node(i, attempt: 0)),
                                            script: camera.shiftScript, scriptPath: dir + "/shift.script", stderrPath: dir + "/shift.stderr")
        } catch {
            update { r, p in r[i].problems.append("shift: cannot start the camera: \(error)"); p.shiftsDone += 1 }
            return
        }
        var manifests: [String: String] = [:]
        for e in outcome.all("manifest") { if let id = e.string("recording"), let sha = e.string("sha256") { manifests[id] = sha } }
        var recordingBytes: [String: Int] = [:]
        for e in outcome.all("recording", "action", "finalized") { if let id = e.string("id") { recordingBytes[id] = e.int("bytes") ?? 0 } }
        let bytes = recordingBytes.values.reduce(0, +)
        let assigned = outcome.all("officer", "action", "assigned").last?.string("officer")
        let problems = Self.problems(outcome, phase: "shift")
        update { r, p in
            r[i].manifests = manifests
            r[i].recordingBytes = recordingBytes
            r[i].assignedOfficer = assigned
            r[i].shiftSeconds = outcome.ended - outcome.started
            r[i].shiftExit = outcome.exitStatus
            r[i].problems += problems
            p.shiftsDone += 1
            p.bytesRecorded += bytes
        }
    }

    /// The failures a camera run reported, one line each.
    static func problems(_ o: CameraProcess.Outcome, phase: String) -> [String] {
        var out: [String] = []
        if o.exitStatus != 0 { out.append("\(phase): the camera exited with status \(o.exitStatus)") }
        for e in o.events {
            switch e.name {
            case "error": out.append("\(phase): error (\(e.string("source") ?? "?")): \(e.string("message") ?? "")")
            case "offload" where e.string("action") == "failed": out.append("\(phase): offload failed: \(e.string("message") ?? "")")
            case "offload" where e.string("action") == "skipped": out.append("\(phase): offload skipped \(e.string("file") ?? ""): \(e.string("reason") ?? "")")
            case "alert" where ["records-unavailable", "recording-kept", "assign-refused", "write-error", "quarantine"].contains(e.string("kind") ?? ""):
                out.append("\(phase): alert \(e.string("kind") ?? ""): \(e.string("message") ?? "")")
            default: break
            }
        }
        return out
    }

    /// The dock storm: every camera docks once within the window (seeded offsets), each at its node; one
    /// that still holds recordings afterwards docks again (twice at a node, then at the next), up to `dockAttempts` times.
    public func runDockStorm() {
        update { _, p in p.phase = .dockStorm }
        var rng = SplitMix64(seed: config.seed ^ 0xD0C4)
        let offsets = config.plan.cameras.map { _ in config.dockWindow > 0 ? rng.uniform(0, config.dockWindow) : 0 }
        let start = CameraProcess.monotonic()
        let group = DispatchGroup()
        for i in config.plan.cameras.indices {
            group.enter()
            Thread {
                defer { group.leave() }
                let delay = start + offsets[i] - CameraProcess.monotonic()
                if delay > 0 { usleep(useconds_t(delay * 1e6)) }
                self.dock(i)
            }.start()
        }
        group.wait()
    }

    private func dock(_ i: Int) {
        let camera = config.plan.cameras[i]
        let dir = folder(camera.deviceID)
        update { _, p in p.docking += 1 }
        for attempt in 0..<max(1, config.dockAttempts) {
            let url = node(i, attempt: attempt)
            // Each boot starts after everything the storage has recorded: the shift, and any earlier dock.
            let utc = config.utcStart + Int64(config.shiftSeconds + 3600 * (attempt + 1)) * 1_000_000_000
            let outcome: CameraProcess.Outcome
            do {
                outcome = try CameraProcess.run(executable: config.executable, arguments: baseArguments(camera, utc: utc, node: url),
                                                script: "dock\nwait 30m\nstatus\nquit\n", scriptPath: dir + "/dock-\(attempt + 1).script",
                                                stderrPath: dir + "/dock-\(attempt + 1).stderr")
            } catch {
                update { r, _ in r[i].problems.append("dock \(attempt + 1) at \(url): cannot start the camera: \(error)") }
                continue
            }
            let docked = outcome.all("dock").first { $0.bool("docked") == true }?.arrived
            var receipts: [String: Double] = [:]
            for e in outcome.all("offload", "action", "recording-offloaded") { if let id = e.string("recording") { receipts[id] = e.arrived } }
            let left = outcome.status?.int("local_recordings")
            let ends = outcome.all("offload", "action", "complete") + outcome.all("offload", "action", "failed")
            let busy = (ends.reduce(0) { $0 + ($1.int("busy_answers") ?? 0) }, ends.reduce(0) { $0 + ($1.int("busy_wait_s") ?? 0) })
            let problems = Self.problems(outcome, phase: "dock \(attempt + 1) at \(url)")
            update { r, p in
                if r[i].firstDock == nil { r[i].firstDock = docked }
                for (id, t) in receipts where r[i].receipts[id] == nil { r[i].receipts[id] = t }
                r[i].dockAttempts.append(url)
                r[i].busyAnswers += busy.0
                r[i].busySeconds += busy.1
                r[i].lastDockEnded = outcome.ended
                r[i].localRecordingsLeft = left
                r[i].problems += problems
                p.receipts += receipts.count
            }
            if left == 0 { break }
            // As an officer leaves a camera on a dock that failed: it tries again, less often each time, so a
            // node that is full or restarting is not hammered by every camera at once.
            if attempt + 1 < config.dockAttempts { sleep(UInt32(min(30, 1 << min(attempt, 5)))) }
        }
        update { _, p in p.docked += 1 }
    }

    /// Compares every camera's recordings with the catalogue, and each camera's audit trail with what it deleted.
    public func crossCheck() throws -> FleetCheck {
        update { _, p in p.phase = .crossCheck }
        let admin = try RecordsAdmin(url: config.records[0], token: config.adminToken, caFile: config.caFile)
        var listed: [String: [RecordsAdmin.Listed]] = [:]
        for c in config.plan.cameras { listed[c.deviceID] = try admin.recordings(device: c.deviceID) }
        let check = FleetCheck(results: results, listed: listed)
        update { _, p in p.phase = .done }
        return check
    }
}
