import BodycamEvidence
/// Timings and limits of the device's behaviour. Defaults follow real cameras (Axon, Motorola).
public struct DeviceConfig: Equatable, Sendable {
    public var doublePressWindow: Nanos = 500 * Nanos.perMillisecond
    public var holdTime: Nanos = 3 * Nanos.perSecond
    /// Power, then function within this: sleep.
    public var sleepComboWindow: Nanos = 3 * Nanos.perSecond
    public var bootTime: Nanos = 2 * Nanos.perSecond
    public var recordingReminder: Nanos = 120 * Nanos.perSecond
    public var sleepReminder: Nanos = 900 * Nanos.perSecond
    /// A recording longer than this continues in a new recording.
    public var maxRecording: Nanos = 4 * 3600 * Nanos.perSecond
    /// Free storage a new recording needs (about one full segment).
    public var storageNeededToRecord: Int64 = 0
    public var battery = Battery.Config()
    public init() {}

    /// Problems a user must fix, in words; empty when the settings are usable.
    public func problems() -> [String] {
        // Each names the option that sets it, with the units and range it takes (one line each).
        var p: [String] = []
        let ms = Nanos.perMillisecond, s = Nanos.perSecond, d = DurationText.format
        if doublePressWindow < 50 * ms || doublePressWindow > 2 * s { p.append("--double-press \(d(doublePressWindow)): 50ms to 2s") }
        if holdTime < 500 * ms || holdTime > 10 * s { p.append("--hold \(d(holdTime)): 500ms to 10s") }
        if sleepComboWindow < 500 * ms || sleepComboWindow > 10 * s { p.append("--sleep-window \(d(sleepComboWindow)): 500ms to 10s") }
        if bootTime < 0 || bootTime > 60 * s { p.append("--boot-time \(d(bootTime)): 0s to 60s") }
        if recordingReminder < s { p.append("--record-reminder \(d(recordingReminder)): at least 1s") }
        if sleepReminder < s { p.append("--sleep-reminder \(d(sleepReminder)): at least 1s") }
        if maxRecording < 10 * s { p.append("--max-recording \(d(maxRecording)): at least 10s") }
        if battery.capacityMilliampHours < 100 || battery.capacityMilliampHours > 100_000 {
            p.append("--battery-capacity \(battery.capacityMilliampHours): mAh, 100 to 100000")
        }
        if !(0...50).contains(battery.cutoffPercent) { p.append("--battery-cutoff \(battery.cutoffPercent): percent, 0 to 50") }
        if !(0...50).contains(battery.minBootPercent) { p.append("--battery-min-boot \(battery.minBootPercent): percent, 0 to 50") }
        return p
    }
}

/// The camera's behaviour as a pure value: inputs (with their time) in, outputs out. No I/O, no clock:
/// the runtime feeds time in, calls `handle(.tick, at:)` at `nextDeadline`, and carries out the outputs.
public struct DeviceMachine: Sendable {
    public let config: DeviceConfig
    public private(set) var state: PowerState = .off
    public private(set) var stealth = false
    public private(set) var battery: Battery
    public private(set) var cameraOK = true
    public private(set) var storageFree: Int64 = .max
    public private(set) var now: Nanos = 0
    public private(set) var recordingStartedAt: Nanos?
    public private(set) var markers = 0

    private var gestures: GestureRecognizer
    private var bootDoneAt: Nanos?
    private var nextReminderAt: Nanos?
    private var sleepArmedUntil: Nanos?
    private var alertsGiven: Set<Int> = []
    private var lastReportedPercent: Int

    public init(config: DeviceConfig = DeviceConfig(), batteryPercent: Int = 100) {
        self.config = config
        battery = Battery(config: config.battery, percent: batteryPercent)
        gestures = GestureRecognizer(doubleWindow: config.doublePressWindow, holdTime: config.holdTime)
        lastReportedPercent = battery.percent
    }

    public var isDocked: Bool { state == .docked }
    public func isButtonDown(_ b: Button) -> Bool { gestures.isDown(b) }
    public var isRecording: Bool { state == .recording }

    /// The next moment something happens by itself (a hold, boot done, a reminder, the battery gauge,
    /// the recording length limit). The runtime must deliver `.tick` then.
    public var nextDeadline: Nanos? {
        var d: [Nanos] = []
        if let g = gestures.nextDeadline { d.append(g) }
        if let b = bootDoneAt { d.append(b) }
        if let r = nextReminderAt { d.append(r) }
        if let s = recordingStartedAt { d.append(s + config.maxRecording) }
        if let b = battery.timeToNextPercent(state) { d.append(now + b) }
        return d.min()
    }

    public mutating func handle(_ input: DeviceInput, at t: Nanos) -> [DeviceOutput] {
        var out: [DeviceOutput] = []
        advance(to: t, &out)
        switch input {
        case .tick: break
        case .powerOn: powerOn(&out)
        case .down(let b): if let g = gestures.down(b, at: t) { gesture(g, &out) }
        case .up(let b): if let g = gestures.up(b, at: t) { gesture(g, &out) }
        case .trigger(let source): trigger(source, &out)
        case .dock: dock(&out)
        case .undock: undock(&out)
        case .setBattery(let p):
            battery.set(percent: p)
            checkBattery(&out)
        case .storage(let free):
            storageFree = free
        case .storageFull:
            storageFree = 0
            if state == .recording {
                stopRecording(cause: "storage-full", &out)
                transition(to: .ready, cause: "storage-full", &out)
            }
            alert("storage-full", "storage is full: recording stopped; dock to offload", &out)
        case .writeFailed:
            if state == .recording {
                stopRecording(cause: "write-error", &out)
                transition(to: .ready, cause: "write-error", &out)
            }
            alert("write-error", "a recording could not be written", &out)
        case .cameraLost:
            guard cameraOK else { break }
            cameraOK = false
            if state == .recording {
                stopRecording(cause: "camera-lost", &out)
                transition(to: .ready, cause: "camera-lost", &out)
            }
            alert("camera-lost", "the camera sensor stopped delivering frames", &out)
        case .offloadFailed(let message):
            alert("records-unavailable", "offload stopped, recordings stay on the camera: \(message)", &out)
        case .cameraBack:
            guard !cameraOK else { break }
            cameraOK = true
            alert("camera-back", "the camera sensor is delivering frames again", &out)
        case .shutdown:
            if state == .recording { stopRecording(cause: "shutdown", &out) }
            if state.captures { out.append(.stopCapture) }
            out.append(.halt)
        }
        return out
    }

    // MARK: - Time

    /// Runs the clock forward to `t`, firing every deadline on the way in order.
    private mutating func advance(to t: Nanos, _ out: inout [DeviceOutput]) {
        while let d = nextDeadline, d <= t {
            runBattery(until: d, &out)
            fireTimers(at: d, &out)
        }
        runBattery(until: t, &out)
    }

    private mutating func runBattery(until t: Nanos, _ out: inout [DeviceOutput]) {
        guard t > now else { return }
        battery.run(state, for: t - now)
        now = t
        checkBattery(&out)
    }

    private mutating func fireTimers(at t: Nanos, _ out: inout [DeviceOutput]) {
        for g in gestures.tick(at: t) { gesture(g, &out) }
        if let b = bootDoneAt, t >= b {
            bootDoneAt = nil
            transition(to: .ready, cause: "booted", &out)
            out.append(.startCapture)
        }
        if let s = recordingStartedAt, t >= s + config.maxRecording, state == .recording {
            // Continue seamlessly in a new recording: no frame is lost or repeated at the seam.
            out.append(.splitRecording)
            recordingStartedAt = t
        }
        if let r = nextReminderAt, t >= r {
            switch state {
            case .recording:
                give(.recordReminder, &out)
                nextReminderAt = r + config.recordingReminder
            case .sleep:
                give(.sleepReminder, &out)
                nextReminderAt = r + config.sleepReminder
            default:
                nextReminderAt = nil
            }
        }
    }

    private mutating func checkBattery(_ out: inout [DeviceOutput]) {
        let p = battery.percent
        alertsGiven = alertsGiven.filter { p <= $0 } // charged above a level: its alert is armed again
        if p != lastReportedPercent {
            lastReportedPercent = p
            out.append(.battery(percent: p, charging: state == .docked))
        }
        guard state != .docked else { return }
        for level in config.battery.lowAlerts.sorted(by: >) where p <= level && !alertsGiven.contains(level) {
            alertsGiven.insert(level)
            if state != .off {
                give(.batteryLow, &out)
                out.append(.alert(kind: "battery-low", message: "battery at \(p) %"))
            }
        }
        if p <= config.battery.cutoffPercent && state != .off {
            if state == .recording { stopRecording(cause: "battery-cutoff", &out) }
            powerOff(cause: "battery-cutoff", &out)
        }
    }

    // MARK: - Rules

    private mutating func powerOn(_ out: inout [DeviceOutput]) {
        guard state == .off else { return }
        guard battery.percent >= config.battery.minBootPercent else {
            alert("battery-too-low", "battery at \(battery.percent) %: dock the camera to charge it", &out)
            return
        }
        transition(to: .booting, cause: "power-on", &out)
        bootDoneAt = now + config.bootTime
    }

    private mutating func powerOff(cause: String, _ out: inout [DeviceOutput]) {
        if state.captures { out.append(.stopCapture) }
        bootDoneAt = nil
        nextReminderAt = nil
        sleepArmedUntil = nil
        transition(to: .off, cause: cause, &out)
    }

    private mutating func gesture(_ g: Gesture, _ out: inout [DeviceOutput]) {
        out.append(.gesture(g))
        switch (state, g) {
        case (.off, .hold(.power)):
            powerOn(&out)
        case (_, .hold(.power)) where state != .off && state != .docked:
            if state == .recording { stopRecording(cause: "power-off", &out) }
            powerOff(cause: "power-button", &out)
        case (.ready, .double(.record)):
            startRecording(trigger: "button", &out)
        case (.recording, .hold(.record)):
            stopRecording(cause: "button", &out)
            transition(to: .ready, cause: "button", &out)
        // Only the record button has a double-press meaning; for the others a double is two presses,
        // the second reported at its down edge.
        case (.recording, .press(.function)), (.recording, .double(.function)):
            markers += 1
            out.append(.marker)
            give(.marker, &out)
        case (.ready, .press(.power)), (.ready, .double(.power)):
            sleepArmedUntil = now + config.sleepComboWindow
        case (.ready, .press(.function)), (.ready, .double(.function)):
            if let until = sleepArmedUntil, now <= until {
                sleepArmedUntil = nil
                out.append(.stopCapture)
                transition(to: .sleep, cause: "button", &out)
                nextReminderAt = now + config.sleepReminder
            }
        case (.sleep, .press(.power)), (.sleep, .double(.power)):
            nextReminderAt = nil
            transition(to: .ready, cause: "button", &out)
            out.append(.startCapture)
        case (.ready, .hold(.function)), (.recording, .hold(.function)), (.sleep, .hold(.function)):
            stealth.toggle()
            out.append(.stealth(stealth))
            out.append(.led(led, suppressed: stealth))
        default:
            break
        }
    }

    private mutating func trigger(_ source: TriggerSource, _ out: inout [DeviceOutput]) {
        switch state {
        case .ready:
            startRecording(trigger: source.rawValue, &out)
        case .recording:
            out.append(.triggerIgnored(source, reason: "already recording"))
        default:
            out.append(.triggerIgnored(source, reason: "camera is \(state.rawValue)"))
        }
    }

    private mutating func startRecording(trigger: String, _ out: inout [DeviceOutput]) {
        guard cameraOK else {
            alert("camera-lost", "cannot record: no frames from the camera", &out)
            return
        }
        guard storageFree >= config.storageNeededToRecord else {
            alert("storage-full", "not enough free storage for a recording; dock to offload", &out)
            return
        }
        out.append(.startRecording(trigger: trigger))
        transition(to: .recording, cause: trigger, &out)
        recordingStartedAt = now
        markers = 0
        give(.recordStart, &out)
        nextReminderAt = now + config.recordingReminder
    }

    /// Ends the recording (the caller chooses the next state).
    private mutating func stopRecording(cause: String, _ out: inout [DeviceOutput]) {
        out.append(.stopRecording(cause: cause))
        recordingStartedAt = nil
        nextReminderAt = nil
        give(.recordStop, &out)
    }

    private mutating func dock(_ out: inout [DeviceOutput]) {
        guard state != .docked else { return }
        if state == .recording { stopRecording(cause: "docked", &out) }
        if state.captures { out.append(.stopCapture) }
        bootDoneAt = nil
        nextReminderAt = nil
        sleepArmedUntil = nil
        transition(to: .docked, cause: "dock", &out)
        out.append(.dock(true))
        out.append(.battery(percent: battery.percent, charging: true))
    }

    private mutating func undock(_ out: inout [DeviceOutput]) {
        guard state == .docked else { return }
        out.append(.dock(false))
        transition(to: .ready, cause: "undock", &out)
        out.append(.startCapture)
        out.append(.battery(percent: battery.percent, charging: false))
    }

    private mutating func transition(to next: PowerState, cause: String, _ out: inout [DeviceOutput]) {
        guard next != state else { return }
        let previous = state
        state = next
        if next == .off { gestures.reset() }
        out.append(.state(from: previous, to: next, cause: cause))
        out.append(.led(led, suppressed: stealth && next != .off))
    }

    private func give(_ f: Feedback, _ out: inout [DeviceOutput]) {
        out.append(.feedback(f, suppressed: stealth))
    }

    private mutating func alert(_ kind: String, _ message: String, _ out: inout [DeviceOutput]) {
        out.append(.alert(kind: kind, message: message))
        give(.alert, &out)
    }

    /// The LED pattern for the current mode.
    public var led: LED {
        switch state {
        case .off: return .off
        case .booting: return .amber
        case .ready: return .greenBlink
        case .recording: return .redBlink
        case .sleep: return .amberSlow
        case .docked: return battery.percent >= 100 ? .green : .amberSolid
        }
    }
}
