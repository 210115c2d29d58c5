import BodycamEvidence
/// How each output of the device machine is reported: the one event it gives and, for what the audit
/// trail keeps, its entry. The runtime carries outputs out; this is the only place that says what they
/// print. Outputs that are actions on the camera (capture, recordings) are reported by the camera itself
/// (`recording` events carry the id and pre-record only it knows), so they have no report here.
public struct DeviceOutputReport {
    public var event: String
    public var fields: [(String, JSON)]
    /// The audit entry (name, fields), if the output is one the audit trail keeps.
    public var audit: (name: String, fields: [(String, JSON)])?

    /// What the runtime knows that the output does not carry.
    public struct Context {
        /// The recording being captured, if any.
        public var recordingID: String?
        /// Markers in the current recording (the machine's count, after this output).
        public var markers: Int
        /// The camera's own sequence number of the last stored frame.
        public var lastFrameSequence: UInt64
        public var batteryPercent: Int
        public init(recordingID: String?, markers: Int, lastFrameSequence: UInt64, batteryPercent: Int) {
            self.recordingID = recordingID
            self.markers = markers
            self.lastFrameSequence = lastFrameSequence
            self.batteryPercent = batteryPercent
        }
    }

    public static func of(_ output: DeviceOutput, _ c: Context) -> DeviceOutputReport? {
        switch output {
        case .state(let from, let to, let cause):
            let fields: [(String, JSON)] = [("from", .string(from.rawValue)), ("to", .string(to.rawValue)), ("cause", .string(cause))]
            return DeviceOutputReport(event: "state", fields: fields, audit: ("state", fields))
        case .gesture(let g):
            return DeviceOutputReport(event: "gesture", fields: [("button", .string(g.button.rawValue)), ("gesture", .string(g.kind))])
        case .feedback(let f, let suppressed):
            return DeviceOutputReport(event: "feedback", fields: [
                ("kind", .string(f.kind)), ("tones", .int(Int64(f.tones))), ("vibrations", .int(Int64(f.vibrations))),
                ("long_tone", .bool(f.longTone)), ("suppressed", .bool(suppressed))])
        case .led(let led, let suppressed):
            return DeviceOutputReport(event: "led", fields: [("pattern", .string(led.rawValue)), ("suppressed", .bool(suppressed))])
        case .stealth(let on):
            return DeviceOutputReport(event: "stealth", fields: [("on", .bool(on))], audit: ("stealth", [("on", .bool(on))]))
        case .marker:
            let fields: [(String, JSON)] = [("recording", c.recordingID.map { .string($0) } ?? .null),
                                            ("number", .int(Int64(c.markers))), ("frame_seq", .int(Int64(c.lastFrameSequence)))]
            return DeviceOutputReport(event: "marker", fields: fields, audit: ("marker", fields))
        case .battery(let percent, let charging):
            return DeviceOutputReport(event: "battery", fields: [("level", .int(Int64(percent))), ("charging", .bool(charging))])
        case .alert(let kind, let message):
            return DeviceOutputReport(event: "alert", fields: [("kind", .string(kind)), ("message", .string(message))],
                                      audit: ("alert", [("kind", .string(kind)), ("message", .string(message)),
                                                        ("battery", .int(Int64(c.batteryPercent)))]))
        case .triggerIgnored(let source, let reason):
            return DeviceOutputReport(event: "trigger", fields: [("source", .string(source.rawValue)), ("action", .string("ignored")),
                                                                 ("reason", .string(reason))])
        case .dock(let docked):
            return DeviceOutputReport(event: "dock", fields: [("docked", .bool(docked))], audit: (docked ? "docked" : "undocked", []))
        case .startCapture, .stopCapture, .startRecording, .splitRecording, .stopRecording, .halt:
            return nil
        }
    }
}
