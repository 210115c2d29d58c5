/// Reads the control script (stdin or a file), runs each command on the device, and reports every bad
/// line as an `error` event. Time: with the virtual clock it moves only through commands (`wait`,
/// `press`...); with the real clock the camera keeps running between lines.
public final class ScriptRunner {
    public let device: DeviceRuntime
    private let reader: LineReader
    private let stop: () -> Bool
    /// Errors and failed expectations so far (`--strict` turns them into the exit status).
    public private(set) var failures = 0

    public static let shortPress: Nanos = 100 * Nanos.perMillisecond

    public init(device: DeviceRuntime, reader: LineReader, stop: @escaping () -> Bool) {
        self.device = device
        self.reader = reader
        self.stop = stop
    }

    /// Runs until `quit`, end of input, or `stop`; then shuts the device down cleanly.
    public func run() {
        device.powerOn()
        let realTime = !device.camera.clock.isVirtual
        loop: while !stop() && !device.sourceEnded {
            switch reader.next(timeout: realTime ? 0 : nil) {
            case .nothingYet:
                device.advance(to: device.now + 20 * Nanos.perMillisecond, interrupt: stop)
            case .endOfInput:
                break loop
            case .tooLong(let number):
                error(line: number, "line longer than \(ScriptParser.maxLineBytes) bytes", text: "")
            case .line(let text, let number):
                switch ScriptParser.parse(text) {
                case .failure(let e): error(line: number, e.message, text: text)
                case .success(nil): continue
                case .success(.quit): break loop
                case .success(let command?): execute(command, line: number, text: text)
                }
            }
        }
        device.shutdown()
    }

    private func execute(_ command: ScriptCommand, line: Int, text: String) {
        if let reason = refusal(command) {
            error(line: line, reason, text: text)
            return
        }
        let d = device
        switch command {
        case .press(let b):
            d.apply(.down(b)); wait(Self.shortPress); d.apply(.up(b))
        case .double(let b):
            d.apply(.down(b)); wait(Self.shortPress); d.apply(.up(b)); wait(Self.shortPress)
            d.apply(.down(b)); wait(Self.shortPress); d.apply(.up(b))
        case .hold(let b, let duration):
            d.apply(.down(b)); wait(duration); d.apply(.up(b))
        case .down(let b): d.apply(.down(b))
        case .up(let b): d.apply(.up(b))
        case .trigger(let t): d.apply(.trigger(t))
        case .dock: d.apply(.dock)
        case .undock: d.apply(.undock)
        case .battery(let p): d.apply(.setBattery(percent: p))
        case .fault(let f):
            if let reason = d.inject(f) { error(line: line, reason, text: text) }
        case .wait(let duration): wait(duration)
        case .expect(let e):
            let status = d.status()
            guard let actual = status.first(where: { $0.0 == e.field })?.1 else {
                error(line: line, "unknown status field '\(e.field)' (see `status`)", text: text)
                return
            }
            let ok = e.holds(for: actual)
            if !ok { failures += 1 }
            d.camera.emit("expect", [("line", .int(Int64(line))), ("field", .string(e.field)), ("op", .string(e.op.rawValue)),
                                     ("expected", .string(e.value)), ("actual", actual), ("ok", .bool(ok))])
        case .status:
            d.camera.emit("status", d.status())
        case .quit:
            break
        }
    }

    /// Commands that make no sense in the current state.
    private func refusal(_ command: ScriptCommand) -> String? {
        let m = device.machine
        switch command {
        case .dock where m.isDocked: return "already docked"
        case .undock where !m.isDocked: return "not docked"
        case .down(let b) where m.isButtonDown(b): return "\(b.rawValue) is already down"
        case .up(let b) where !m.isButtonDown(b): return "\(b.rawValue) is not down"
        case .press(let b), .double(let b), .hold(let b, _):
            return m.isButtonDown(b) ? "\(b.rawValue) is held down (send 'up \(b.rawValue)' first)" : nil
        default: return nil
        }
    }

    private func wait(_ duration: Nanos) {
        device.advance(to: device.now + duration, interrupt: stop)
    }

    private func error(line: Int, _ message: String, text: String) {
        failures += 1
        // Echo a printable, bounded copy of the line: it may be garbage.
        let shown = String(String.UnicodeScalarView(text.unicodeScalars.prefix(80).map {
            $0.value >= 0x20 && $0.value != 0x7F && $0 != "\u{FFFD}" ? $0 : "?"
        }))
        device.camera.emit("error", [("source", .string("script")), ("line", .int(Int64(line))),
                                     ("message", .string(message)), ("text", .string(shown))])
    }
}
