import BodycamEvidence
/// Reads the control script (stdin or a file), runs each command on the device, and reports every bad
/// line as an `error` event. Time: with the virtual clock it moves only through commands (`wait`,
/// `press`...); with the real clock the camera keeps running between lines.
///
/// With a `duration` (`bodycam run -t`) the run ends that long after power-on, in camera time: the end
/// of input no longer ends it (the camera runs on to that time, as `wait` would), and a command still
/// going then is cut there (a `wait` ends, an edge due at or after it is never applied); nothing due at or
/// after that time happens. `quit`, a stop request or the end of a replayed file still end it sooner.
public final class ScriptRunner {
    public let device: DeviceRuntime
    private let reader: LineReader
    private let stop: () -> Bool
    private let duration: Nanos?
    private let remote: RemoteControl?
    private let runsPastEndOfInput: Bool
    /// Errors and failed expectations so far (`--strict` turns them into the exit status).
    public private(set) var failures = 0

    public static let shortPress: Nanos = 100 * Nanos.perMillisecond

    /// - duration: end the run this long (camera time) after power-on; nil: at `quit` or the end of input.
    /// - remote: lines from the live page join the script's own while the runner runs.
    /// - runsPastEndOfInput: the end of input ends nothing (the live page still controls the camera): the
    ///   run ends at `quit`, a stop request or the duration's end.
    public init(device: DeviceRuntime, reader: LineReader, stop: @escaping () -> Bool, duration: Nanos? = nil,
                remote: RemoteControl? = nil, runsPastEndOfInput: Bool = false) {
        self.device = device
        self.reader = reader
        self.stop = stop
        self.duration = duration
        self.remote = remote
        self.runsPastEndOfInput = runsPastEndOfInput
    }

    /// Runs until `quit`, end of input (or with a `duration`, its end), or `stop`; then shuts the device
    /// down cleanly.
    public func run() {
        device.powerOn()
        let realTime = !device.camera.clock.isVirtual
        let input = ScriptInput(reader: reader, clock: device.camera.clock)
        remote?.attach(input)
        defer {
            remote?.attach(nil)
            input.close()
        }
        scriptTime = device.now
        end = duration.map { device.now + $0 } ?? .max
        loop: while !stop() && !device.sourceEnded && device.now < end {
            // Virtual clock: time waits for the next line, but a stop request is still seen promptly.
            guard case .input(let stamped) = input.next(timeout: realTime ? 0 : Self.stopPoll) else {
                if realTime { device.advance(to: min(device.now + Self.idleStep, end), interrupt: stop) }
                continue
            }
            // Real clock: a command starts when its line arrived, or when the script's previous command
            // ended if that is later (a piped script keeps its own timing however late it is handled).
            start = realTime ? max(stamped.arrived, scriptTime) : device.now
            // A line due at or after the end is not carried out (real clock: it came too late).
            if start >= end { break loop }
            switch stamped.next {
            case .nothingYet:
                continue
            case .endOfInput where runsPastEndOfInput:
                continue // the reader has stopped; remote lines still come
            case .endOfInput:
                // With a duration the camera runs on to its end, as `wait` then `quit` would.
                runToEnd()
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

    /// How long the virtual clock's runner waits for a line before it looks at `stop` again (wall time).
    static let stopPoll: Nanos = 50 * Nanos.perMillisecond
    /// Real clock, no line waiting: the camera runs this long before the runner looks again.
    static let idleStep: Nanos = 20 * Nanos.perMillisecond
    /// When the command being carried out starts, in camera time.
    private var start: Nanos = 0
    /// When the script's last command ended, in camera time.
    private var scriptTime: Nanos = 0
    /// When the run ends (`duration` after power-on), in camera time; `.max` without a duration.
    private var end: Nanos = .max

    /// Runs the camera up to the end of a run with a duration (nothing without one).
    private func runToEnd() {
        if end != .max && device.now < end { device.advance(to: end, interrupt: stop) }
    }

    private func execute(_ command: ScriptCommand, line: Int, text: String) {
        if let reason = refusal(command) {
            error(line: line, reason, text: text)
            return
        }
        let d = device
        let press = Self.shortPress
        switch command {
        case .press(let b):
            edges([(.down(b), 0), (.up(b), press)])
        case .double(let b):
            edges([(.down(b), 0), (.up(b), press), (.down(b), 2 * press), (.up(b), 3 * press)])
        case .hold(let b, let duration):
            edges([(.down(b), 0), (.up(b), duration)])
        case .down(let b): edges([(.down(b), 0)])
        case .up(let b): edges([(.up(b), 0)])
        case .trigger(let t): edges([(.trigger(t), 0)])
        case .dock: edges([(.dock, 0)])
        case .undock: edges([(.undock, 0)])
        case .battery(let p): edges([(.setBattery(percent: p), 0)])
        case .fault(let f):
            if let reason = d.inject(f) { error(line: line, reason, text: text) }
        case .assign(let officer):
            if let reason = d.assign(officer: officer) { error(line: line, reason, text: text) }
        case .wait(let duration):
            d.advance(to: min(start + duration, end), interrupt: stop)
            scriptTime = start + duration
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
        case .help:
            d.camera.emit("help", [("commands", .array(ScriptParser.commands.map {
                .object([("usage", .string($0.usage)), ("does", .string($0.does))])
            }))])
        case .quit:
            break
        }
    }

    /// Feeds inputs to the machine at their own times, `offset` after the command's start: the camera
    /// runs up to each one first, and the machine gets it stamped with its intended time, so a gesture
    /// keeps its exact spacing however slow the frame path is (on the virtual clock, `start` is now and
    /// the camera reaches each time exactly).
    private func edges(_ inputs: [(DeviceInput, Nanos)]) {
        for (input, offset) in inputs where !stop() {
            let t = start + offset
            // The run ends first: the gesture is cut there (a held button stays down until shutdown).
            if t >= end {
                runToEnd()
                break
            }
            if t > device.now { device.advance(to: t, interrupt: stop) }
            device.apply(input, at: t)
        }
        scriptTime = start + (inputs.last?.1 ?? 0)
    }

    /// Commands that make no sense in the current state.
    private func refusal(_ command: ScriptCommand) -> String? {
        let m = device.machine
        switch command {
        case .dock where m.isDocked: return "already docked"
        case .undock where !m.isDocked: return "not docked"
        case .assign where !m.isDocked: return "not docked: an officer checks a camera out at the dock"
        case .down(let b) where m.isButtonDown(b): return "\(b.rawValue) is already down"
        case .up(let b) where !m.isButtonDown(b): return "\(b.rawValue) is not down"
        case .press(let b), .double(let b), .hold(let b, _):
            return m.isButtonDown(b) ? "\(b.rawValue) is held down (send 'up \(b.rawValue)' first)" : nil
        default: return nil
        }
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
