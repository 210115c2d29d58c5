import BodycamEvidence
/// Carries out the device state machine's decisions on the real frame path, and moves time forward:
/// frames are captured (when the device captures) up to each deadline of the machine, where it is
/// ticked. This is the only place where the pure machine meets I/O.
///
/// A plain executor: it hands one input to the machine and carries out the list of outputs it gets back,
/// in order. An input raised while doing so (a start the recorder refused, the storage left after a stop,
/// a failed offload) waits in a small FIFO and is handled after the list, never in the middle of it, so
/// the events always follow the machine's state.
public final class DeviceRuntime {
    public let camera: CameraRuntime
    public private(set) var machine: DeviceMachine
    public private(set) var halted = false
    /// The frame source ran out (a finite file or synthetic source).
    public private(set) var sourceEnded = false

    private var capturing = false
    private let statsEvery: Nanos
    private var nextStatsAt: Nanos
    private let storageCapacity: Int64
    private let storageUsedAtStart: Int64
    private var diskFull = false
    /// Recordings the camera actually started (the machine may ask for one the recorder refuses).
    private var recordingsStarted = 0
    private var freedBytes: Int64 = 0
    /// Inputs raised while outputs are carried out, with the time they were raised.
    private var raised = InputFIFO()
    private var performing = false
    /// The longest a real-clock sleep lasts before a stop request (a signal) is looked at again.
    static let realSleepSlice: Nanos = 50 * Nanos.perMillisecond
    /// When to try reopening a camera that was really lost (not a `fault camera-lost`).
    private var reopenAt: Nanos?
    private var realLoss = false
    public static let reopenEvery: Nanos = Nanos.perSecond

    /// Central records and the dock's transfer rate (bytes per second of camera time).
    public struct Dock {
        public var target: RecordsTarget
        public var bytesPerSecond: Int64
        /// The dock's clock minus the camera's: applied as a clock correction on docking.
        public var clockOffset: Nanos
        public init(target: RecordsTarget, bytesPerSecond: Int64, clockOffset: Nanos) {
            self.target = target
            self.bytesPerSecond = bytesPerSecond
            self.clockOffset = clockOffset
        }
    }
    private let dock: Dock?
    static let offloadSlice: Nanos = 250 * Nanos.perMillisecond
    private let offloader: Offloader?
    /// Draws a progress bar (on a terminal's stderr).
    public var progressBar: ((Offloader.Progress) -> Void)?
    /// The status a person sees (terminal status line, live page), published from this thread: after
    /// every input and at least every `statusEvery` of camera time while the camera runs.
    public let liveStatus: LiveStatusBoard
    public static let statusEvery: Nanos = 100 * Nanos.perMillisecond
    private var statusPublishedAt: Nanos = -Nanos.perSecond

    /// - Parameters:
    ///   - storageCapacity: what the device may fill (the file system's free space, capped by a setting).
    ///   - statsEvery: emit a `stats` event this often (0: never on a timer).
    ///   - liveStatus: where the status is published (given when a reader exists before the runtime: the live view).
    public init(camera: CameraRuntime, config: DeviceConfig, batteryPercent: Int, storageCapacity: Int64, statsEvery: Nanos,
                dock: Dock? = nil, liveStatus: LiveStatusBoard = LiveStatusBoard()) {
        self.camera = camera
        self.liveStatus = liveStatus
        self.dock = dock
        offloader = dock.map { d in
            Offloader(target: d.target, recordingsDirectory: camera.settings.recordingsDirectory, auditPath: camera.audit.path,
                      identity: camera.identity, deviceInfo: camera.identity.info,
                      checkpoint: { camera.audit.checkpoint(mono: camera.now, utc: camera.utcNow).head },
                      logReceipt: { statement, bytes in
                          // The receipt goes into the trail, durably, before the local copy may go.
                          if let e = camera.audit.append("receipt", mono: camera.now, utc: camera.utcNow, [
                              ("recording", .string(statement.recordingID ?? "")),
                              ("manifest_sha256", .string(statement.manifestSHA256 ?? "")),
                              ("service", .string(statement.service)), ("custody_seq", .int(Int64(statement.custodySeq))),
                              ("receipt_sha256", .string(Hex.sha256(bytes))), ("received_utc", .string(UTC.iso(statement.utc))),
                          ]) {
                              camera.emit("error", [("source", .string("audit")), ("message", .string(e.description))])
                              return false
                          }
                          if let e = camera.audit.sync() {
                              camera.emit("error", [("source", .string("audit")), ("message", .string(e.description))])
                              return false
                          }
                          return true
                      })
        }
        if let service = dock?.target as? RecordsService {
            camera.officer = OfficerAssignment.load(stateDirectory: camera.settings.stateDirectory, deviceID: camera.identity.deviceID,
                                                    serviceKey: service.receiptKey)
        }
        var c = config
        let s = camera.settings
        // In floating point: bytes per second times nanoseconds overflows Int64 for segments over ~15 minutes.
        let segmentEstimate = Int64(Double(s.estimatedFrameBytes) * Double(s.fps) * Double(s.segmentDuration) / Double(Nanos.perSecond))
        c.storageNeededToRecord = min(Int64(s.segmentBytes), segmentEstimate)
        machine = DeviceMachine(config: c, batteryPercent: batteryPercent)
        self.statsEvery = statsEvery
        nextStatsAt = statsEvery > 0 ? camera.now + statsEvery : .max
        storageUsedAtStart = PosixFile.list(s.recordingsDirectory).reduce(0) {
            $0 + (PosixFile.size(s.recordingsDirectory + "/" + $1) ?? 0)
        }
        self.storageCapacity = storageCapacity
    }

    public var now: Nanos { camera.now }

    /// Free storage as the device accounts it: capacity less what is stored and what recordings will take.
    public var storageFree: Int64 {
        diskFull ? 0 : storageCapacity - storageUsedAtStart - camera.recorder.recordedBytes + freedBytes
    }

    /// The camera is switched on at time zero.
    public func powerOn() {
        camera.emit("storage", [("free_bytes", .int(storageFree)), ("capacity_bytes", .int(storageCapacity))])
        apply(.storage(freeBytes: storageFree))
        apply(.powerOn)
        camera.emit("battery", [("level", .int(Int64(machine.battery.percent))), ("charging", .bool(false))])
    }

    /// Feeds one input to the machine now and carries out what it decides.
    public func apply(_ input: DeviceInput) { apply(input, at: now) }

    /// Feeds one input that happened at `time` (a scripted edge keeps its own time, however late the
    /// runtime gets to it; never before what the machine has already seen). While outputs are being
    /// carried out, the input is queued and handled after them.
    public func apply(_ input: DeviceInput, at time: Nanos) {
        guard raised.push(input, at: time) else {
            camera.emit("error", [("source", .string("runtime")), ("message", .string("input queue full: \(input) dropped"))])
            return
        }
        guard !performing else { return }
        performing = true
        defer { performing = false }
        while let (next, t) = raised.pop() {
            for o in machine.handle(next, at: max(t, machine.now)) { perform(o) }
        }
        publishStatus()
    }

    /// Copies what a person sees into `liveStatus` (no allocation: a few numbers and existing strings).
    public func publishStatus() {
        var s = LiveStatus()
        s.state = machine.state
        s.led = machine.led
        s.stealth = machine.stealth
        s.battery = machine.battery.percent
        s.charging = machine.isDocked
        s.recordingID = camera.recordingID
        s.recordingNanos = machine.recordingStartedAt.map { max(0, now - $0) }
        s.markers = machine.markers
        s.officer = camera.officer
        s.cameraOK = machine.cameraOK
        s.storageFree = storageFree
        s.storageCapacity = storageCapacity
        s.framesCaptured = camera.path.counters.captured
        s.framesDropped = camera.framesDropped
        if let o = offloader, o.isActive {
            s.offload = o.progress
            s.offloadBytesPerSecond = dock?.bytesPerSecond ?? 0
        }
        s.mono = now
        s.utcMillis = camera.utcNow / 1_000_000
        statusPublishedAt = now
        liveStatus.publish(s)
    }

    /// `publishStatus` when `statusEvery` has passed (checked per frame and per sleep slice).
    private func publishStatusIfDue() {
        if now - statusPublishedAt >= Self.statusEvery { publishStatus() }
    }

    /// Runs the camera until `deadline`: frames while capturing, machine deadlines, periodic stats.
    /// `interrupt` is checked after every frame (Ctrl-C); returns early when it says so.
    public func advance(to deadline: Nanos, interrupt: () -> Bool = { false }) {
        while !halted && !sourceEnded {
            let next = min(machine.nextDeadline ?? .max, nextStatsAt, deadline, reopenAt ?? .max)
            if capturing && machine.cameraOK {
                let result: CameraRuntime.RunResult
                do {
                    result = try camera.run(until: next) {
                        publishStatusIfDue()
                        return interrupt() || storageEvent()
                    }
                } catch {
                    lose(error)
                    continue
                }
                switch result {
                case .sourceEnded:
                    sourceEnded = true
                    return
                case .interrupted:
                    if interrupt() { return }
                    reactToStorage()
                    continue
                case .reachedDeadline:
                    break
                }
            } else {
                var until = next
                if machine.isDocked, let d = dock, let o = offloader, o.isActive {
                    // The dock transfers at its rate, in slices of time, so that progress, completion
                    // and an undock happen at the right moment.
                    until = min(next, now + DeviceRuntime.offloadSlice)
                    o.work(budget: max(1, Int(d.bytesPerSecond * (until - now) / Nanos.perSecond)), onOutcome: offloadOutcome)
                    progressBar?(o.progress)
                }
                // The real clock sleeps in slices so that a stop request is seen within one.
                if !camera.clock.isVirtual { until = min(until, now + Self.realSleepSlice) }
                camera.clock.sleep(until: until)
                publishStatusIfDue()
                if interrupt() { return }
                if let r = reopenAt, now >= r { reopen() }
                if until < next { continue }
            }
            if now >= nextStatsAt {
                camera.statsEvent()
                nextStatsAt += statsEvery
            }
            // At the deadline's own time, and only up to `deadline`: an edge the caller applies at
            // `deadline` next is then never behind the machine's clock (real clock, slow frames).
            if let d = machine.nextDeadline, d <= min(now, deadline) { apply(.tick, at: d) }
            if now >= deadline { return }
        }
    }

    /// True when the recording must stop for lack of storage or the writer failed (checked per frame).
    private func storageEvent() -> Bool {
        guard machine.isRecording else { return false }
        if let f = camera.recorder.takeFailure() {
            pendingFailure = f
            return true
        }
        return storageFree < 2 * AVILayout.storageBytes(frameLength: camera.settings.geometry.maxEncodedFrameBytes)
    }
    private var pendingFailure: Recorder.WriteFailure?

    private func reactToStorage() {
        if let f = pendingFailure {
            pendingFailure = nil
            apply(f == .outOfSpace ? .storageFull : .writeFailed)
        } else if machine.isRecording {
            apply(.storageFull)
        }
    }

    /// Injects a fault (`fault KIND` in scripts).
    public func inject(_ fault: Fault) -> String? {
        let recorder = camera.recorder
        // Recording it settles the writer first (virtual clock), so the fault lands at the same frame every run.
        camera.record("fault-injected", [("fault", .string("\(fault)"))])
        switch fault {
        case .diskFull:
            recorder.setOutOfSpace(true)
            diskFull = true
            apply(.storage(freeBytes: 0))
            if machine.isRecording { apply(.storageFull) }
            camera.emit("storage", [("free_bytes", .int(0)), ("capacity_bytes", .int(storageCapacity)), ("fault", .string("disk-full"))])
        case .diskOK:
            recorder.setOutOfSpace(false)
            diskFull = false
            apply(.storage(freeBytes: storageFree))
            camera.emit("storage", [("free_bytes", .int(storageFree)), ("capacity_bytes", .int(storageCapacity))])
        case .diskStall:
            recorder.setWriterStalled(true)
        case .diskResume:
            recorder.setWriterStalled(false)
        case .cameraLost:
            guard machine.cameraOK else { return "the camera is already lost" }
            if capturing { camera.path.source.stop() }
            apply(.cameraLost)
        case .cameraBack:
            guard !machine.cameraOK else { return "the camera is not lost" }
            apply(.cameraBack)
            if capturing { restartCapture() }
        case .corruptFrames(let n):
            guard camera.damageNextFrames(n) else {
                return "corrupt-frames works on the synthetic source only (use vivid's controls for a V4L2 camera)"
            }
        }
        return nil
    }

    /// Ends the simulation: finalizes any recording and waits for every file.
    public func shutdown() {
        if !halted { apply(.shutdown) }
        camera.shutdown()
    }

    // MARK: - Outputs

    /// Carries out one output: its report (event, audit entry) first, then what it does.
    private func perform(_ o: DeviceOutput) {
        let context = DeviceOutputReport.Context(recordingID: camera.recordingID, markers: machine.markers,
                                                 lastFrameSequence: max(camera.path.sequence, 1) - 1,
                                                 batteryPercent: machine.battery.percent)
        if let report = DeviceOutputReport.of(o, context) {
            camera.emit(report.event, report.fields)
            if let a = report.audit { camera.record(a.name, a.fields) }
        }
        switch o {
        case .state, .gesture, .feedback, .led, .stealth, .battery, .alert, .triggerIgnored:
            break
        case .startCapture:
            capturing = true
            if machine.cameraOK { restartCapture() } else if realLoss { reopenAt = now }
        case .stopCapture:
            capturing = false
            camera.stopCapture()
        case .startRecording(let trigger):
            if camera.startRecording(trigger: trigger) == nil {
                apply(.writeFailed) // queued: handled after this list
            } else {
                recordingsStarted += 1
            }
        case .splitRecording:
            camera.stopRecording(cause: "max-length")
            if camera.startRecording(trigger: "continuation", preRecord: false) != nil { recordingsStarted += 1 }
        case .stopRecording(let cause):
            camera.stopRecording(cause: cause)
            camera.emit("storage", [("free_bytes", .int(storageFree)), ("capacity_bytes", .int(storageCapacity))])
            apply(.storage(freeBytes: storageFree))
        case .marker:
            camera.recorder.addMarker(Marker(number: context.markers, utc: camera.utcNow, frameSeq: context.lastFrameSequence))
        case .dock(let docked):
            if docked {
                syncClock()
                camera.audit.checkpoint(mono: now, utc: camera.utcNow)
                startOffload()
            } else if let o = offloader, o.isActive {
                o.interrupt()
                let p = o.progress
                camera.emit("offload", [("action", .string("interrupted")), ("files_done", .int(Int64(p.filesDone))),
                                        ("files_total", .int(Int64(p.filesTotal)))])
                camera.record("offload-interrupted", [("files_done", .int(Int64(p.filesDone))), ("files_total", .int(Int64(p.filesTotal)))])
            }
        case .halt:
            halted = true
        }
    }

    // MARK: - Dock

    /// The dock's clock is the reference: the camera takes its time (a correction event and audit entry).
    private func syncClock() {
        let offset = dock?.clockOffset ?? 0
        let before = camera.utcNow
        if offset != 0 { camera.correctClock(by: offset) }
        let fields: [(String, JSON)] = [("from", .string(UTC.iso(before))), ("to", .string(UTC.iso(camera.utcNow))),
                                        ("correction_s", .double(Double(offset / Nanos.perMillisecond) / 1000))]
        camera.emit("clock", fields)
        camera.record("clock-sync", fields)
    }

    private func startOffload() {
        guard let o = offloader else {
            camera.emit("offload", [("action", .string("none")), ("reason", .string("no central records configured"))])
            return
        }
        camera.recorder.waitUntilIdle() // every recording finalized first
        o.start()
        let p = o.progress
        camera.emit("offload", [("action", .string("started")), ("target", .string(o.target.location)),
                                ("recordings", .int(Int64(p.recordingsTotal))), ("files", .int(Int64(p.filesTotal))),
                                ("bytes", .int(Int64(p.bytesTotal)))])
        camera.record("offload-started", [("recordings", .int(Int64(p.recordingsTotal))), ("bytes", .int(Int64(p.bytesTotal)))])
        // Recordings the camera cannot vouch for stay on it, said out loud.
        for s in o.skipped { offloadOutcome(.skipped(s)) }
        // Present the camera now: its check-in comes before anything done at the dock next.
        o.admit(offloadOutcome)
    }

    /// `assign OFFICER`: an officer checks the docked camera out (badge tap). The records service checks
    /// the officer is registered, trained and active, and signs the assignment; only then does the
    /// camera stamp the officer on what it records.
    public func assign(officer: String) -> String? {
        guard let service = dock?.target as? RecordsService else {
            return "no records service to check the officer against (--records http://HOST:PORT)"
        }
        let statement: [UInt8]
        let s: ServiceStatement
        do { (statement, s) = try service.assign(officer: officer) } catch {
            camera.emit("alert", [("kind", .string("assign-refused")), ("officer", .string(officer)), ("message", .string(error.message))])
            camera.record("assign-refused", [("officer", .string(officer)), ("reason", .string(error.message))])
            return error.message
        }
        do { try OfficerAssignment.save(statement, stateDirectory: camera.settings.stateDirectory) } catch {
            camera.emit("error", [("source", .string("storage")), ("message", .string(error.description))])
        }
        camera.officer = s.officer
        camera.emit("officer", [("action", .string("assigned")), ("officer", .string(officer))])
        camera.record("assigned", [("officer", .string(officer)), ("custody_seq", .int(Int64(s.custodySeq)))])
        return nil
    }

    private func offloadOutcome(_ outcome: Offloader.Outcome) {
        guard let o = offloader else { return }
        let p = o.progress
        switch outcome {
        case .admitted(let checkin):
            guard checkin != nil else { break }
            // Docked again: the officer who had the camera has checked it in.
            if let officer = camera.officer {
                camera.emit("officer", [("action", .string("checked-in")), ("officer", .string(officer))])
                camera.record("checked-in", [("officer", .string(officer))])
            }
            camera.officer = nil
            do { try OfficerAssignment.clear(stateDirectory: camera.settings.stateDirectory) } catch {
                camera.emit("error", [("source", .string("storage")), ("message", .string(error.description))])
            }
        case .fileVerified(let job):
            camera.emit("offload", [("action", .string("file-verified")), ("recording", job.recording.map { .string($0) } ?? .null),
                                    ("file", .string(job.file)), ("sha256", .string(job.sha256)),
                                    ("bytes_done", .int(Int64(p.bytesDone))), ("bytes_total", .int(Int64(p.bytesTotal))),
                                    ("files_done", .int(Int64(p.filesDone))), ("files_total", .int(Int64(p.filesTotal))),
                                    ("recordings_done", .int(Int64(p.recordingsDone))),
                                    ("recordings_total", .int(Int64(p.recordingsTotal)))])
        case .recordingOffloaded(let id, let freed):
            freedBytes += freed
            camera.emit("offload", [("action", .string("recording-offloaded")), ("recording", .string(id)),
                                    ("local_copies_deleted", .bool(true)), ("freed_bytes", .int(freed))])
            camera.record("offloaded", [("recording", .string(id)), ("target", .string(o.target.location))])
        case .skipped(let s):
            camera.emit("offload", [("action", .string("skipped")), ("file", .string(s.name)), ("reason", .string(s.reason))])
            camera.emit("alert", [("kind", .string("recording-kept")), ("file", .string(s.name)),
                                  ("message", .string("not offloaded, kept on the camera: \(s.reason)"))])
            camera.record("offload-skipped", [("file", .string(s.name)), ("reason", .string(s.reason))])
        case .failed(let message):
            camera.emit("offload", [("action", .string("failed")), ("message", .string(message))] + busyFields(o.target))
            apply(.offloadFailed(message))
        case .complete:
            camera.emit("offload", [("action", .string("complete")), ("recordings", .int(Int64(p.recordingsDone))),
                                    ("bytes", .int(Int64(p.bytesDone)))] + busyFields(o.target))
            camera.record("offload-complete", [("recordings", .int(Int64(p.recordingsDone)))])
            apply(.storage(freeBytes: storageFree))
        }
    }

    /// A records service's busy answers waited out during the offload (read once it is over).
    private func busyFields(_ target: RecordsTarget) -> [(String, JSON)] {
        guard let service = target as? RecordsService else { return [] }
        return [("busy_answers", .int(Int64(service.busy.answers))), ("busy_wait_s", .int(Int64(service.busy.seconds)))]
    }

    private func restartCapture() {
        do { try camera.startCapture() } catch { lose(error) }
    }

    /// The camera failed for real: finalize (the machine decides), and keep trying to reopen it.
    private func lose(_ error: FrameSourceError) {
        camera.emit("error", [("source", .string("camera")), ("message", .string("\(error)"))])
        camera.path.source.stop()
        if machine.cameraOK { apply(.cameraLost) }
        realLoss = true
        reopenAt = now + DeviceRuntime.reopenEvery
    }

    private func reopen() {
        reopenAt = nil
        guard capturing else { return } // it will be started when capture is wanted again
        do {
            try camera.startCapture()
            realLoss = false
            if !machine.cameraOK { apply(.cameraBack) }
        } catch {
            camera.path.source.stop()
            reopenAt = now + DeviceRuntime.reopenEvery
        }
    }

    // MARK: - Status

    /// Everything `status` prints and `expect` can check.
    public func status() -> [(String, JSON)] {
        let snap = camera.recorder.snapshot
        let c = camera.path.counters
        let fields: [(String, JSON)] = [
            ("state", .string(machine.state.rawValue)),
            ("stealth", .bool(machine.stealth)),
            ("led", .string(machine.led.rawValue)),
            ("battery", .int(Int64(machine.battery.percent))),
            ("charging", .bool(machine.isDocked)),
            ("docked", .bool(machine.isDocked)),
            ("recording", .bool(machine.isRecording)),
            ("recording_id", camera.recordingID.map { .string($0) } ?? .null),
            ("recording_s", machine.recordingStartedAt.map { .double(Double((now - $0) / Nanos.perMillisecond) / 1000) } ?? .null),
            ("markers", .int(Int64(machine.markers))),
            ("recordings", .int(Int64(recordingsStarted))),
            ("local_recordings", .int(Int64(PosixFile.list(camera.settings.recordingsDirectory).filter {
                if case .manifest = EvidenceNames.kind(of: $0) { true } else { false }
            }.count))),
            ("quarantined", .int(Int64(Quarantine(storage: camera.settings.storage).contents.count))),
            ("offloading", .bool(offloader?.isActive ?? false)),
            ("officer", camera.officer.map { .string($0) } ?? .null),
            ("camera", .string(machine.cameraOK ? "ok" : "lost")),
            ("storage_free", .int(storageFree)),
            ("storage_capacity", .int(storageCapacity)),
            ("frames_captured", .int(Int64(c.captured))),
            ("frames_stored", .int(Int64(c.stored))),
            ("frames_dropped", .int(Int64(camera.framesDropped))),
            ("prerecord_frames", .int(Int64(snap.framesHeld))),
            ("prerecord_s", .double(snap.oldestMono.map { Double((now - $0) / Nanos.perMillisecond) / 1000 } ?? 0)),
        ]
        return fields + (camera.path.liveTap?.fields ?? [])
    }
}

/// The runtime's small FIFO of inputs raised while outputs are carried out (a handful at most per list of
/// outputs). Fixed capacity, allocated once.
struct InputFIFO {
    static let capacity = 16
    private var items: [(DeviceInput, Nanos)?] = Array(repeating: nil, count: InputFIFO.capacity)
    private var first = 0
    private var count = 0

    mutating func push(_ input: DeviceInput, at time: Nanos) -> Bool {
        guard count < Self.capacity else { return false }
        items[(first + count) % Self.capacity] = (input, time)
        count += 1
        return true
    }

    mutating func pop() -> (DeviceInput, Nanos)? {
        guard count > 0 else { return nil }
        defer {
            items[first] = nil
            first = (first + 1) % Self.capacity
            count -= 1
        }
        return items[first]
    }
}
