import BodycamEvidence
/// The camera's physical buttons.
public enum Button: String, CaseIterable, Sendable {
    case record, function, power
}

/// Automatic recording triggers from accessories and the fleet.
public enum TriggerSource: String, CaseIterable, Sendable {
    case holster, taser, lightbar, peer
}

/// Where the device is in its life cycle. Stealth is a flag on top, not a state.
public enum PowerState: String, Sendable {
    case off, booting, ready, recording, sleep, docked

    /// States in which the camera feeds the pre-record buffer.
    public var captures: Bool { self == .ready || self == .recording }
}

/// A gesture made from button edges.
public enum Gesture: Equatable, Sendable {
    case press(Button)   // down and up within the hold time
    case double(Button)  // a second press whose down edge comes within the double-press window
    case hold(Button)    // held down for the hold time (reported while still held)

    public var button: Button {
        switch self { case .press(let b), .double(let b), .hold(let b): return b }
    }
    public var kind: String {
        switch self { case .press: return "press"; case .double: return "double"; case .hold: return "hold" }
    }
}

/// What the officer feels and hears. Stealth suppresses all of it; the event still says it was due.
public struct Feedback: Equatable, Sendable {
    public var kind: String
    public var tones: Int
    public var vibrations: Int
    public var longTone: Bool

    public static let recordStart = Feedback(kind: "record-start", tones: 2, vibrations: 2, longTone: false)
    public static let recordReminder = Feedback(kind: "record-reminder", tones: 2, vibrations: 2, longTone: false)
    public static let recordStop = Feedback(kind: "record-stop", tones: 1, vibrations: 0, longTone: true)
    public static let sleepReminder = Feedback(kind: "sleep-reminder", tones: 1, vibrations: 1, longTone: false)
    public static let marker = Feedback(kind: "marker", tones: 1, vibrations: 0, longTone: false)
    public static let batteryLow = Feedback(kind: "battery-low", tones: 3, vibrations: 3, longTone: false)
    public static let alert = Feedback(kind: "alert", tones: 3, vibrations: 1, longTone: false)
}

/// The status LED for each mode.
public enum LED: String, Sendable {
    case off, amber, greenBlink = "green-blink", redBlink = "red-blink", amberSlow = "amber-slow",
         amberSolid = "amber-solid", green = "green"
}

/// Inputs to the device state machine. Time comes with every input.
public enum DeviceInput: Equatable, Sendable {
    case powerOn                    // the process starts: the device boots
    case down(Button), up(Button)
    case trigger(TriggerSource)
    case dock, undock
    case setBattery(percent: Int)   // test injection: the gauge reads this now
    case storage(freeBytes: Int64)  // what the storage reports after a change
    case storageFull                // a write failed for lack of space, or the budget ran out
    case writeFailed                // a write failed for another reason
    case cameraLost, cameraBack
    case offloadFailed(String)      // central records full or not writable: local copies stay
    case tick                       // nothing happened but time passed (deadlines)
    case shutdown                   // end of the simulation: finalize everything
}

/// What the state machine asks the runtime to do or report.
public enum DeviceOutput: Equatable, Sendable {
    case state(from: PowerState, to: PowerState, cause: String)
    case gesture(Gesture)
    case feedback(Feedback, suppressed: Bool)
    case led(LED, suppressed: Bool)
    case stealth(Bool)
    case startCapture
    /// Stop feeding the ring and empty it (sleep, dock, off).
    case stopCapture
    /// Start a recording that begins with the pre-record buffer.
    case startRecording(trigger: String)
    /// The maximum length was reached: end this recording and continue at once in a new one.
    case splitRecording
    case stopRecording(cause: String)
    case marker
    case battery(percent: Int, charging: Bool)
    case alert(kind: String, message: String)
    case triggerIgnored(TriggerSource, reason: String)
    case dock(Bool)
    /// The simulation is over (after `shutdown`).
    case halt
}
