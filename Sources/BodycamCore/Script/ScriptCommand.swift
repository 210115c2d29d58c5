import BodycamEvidence
/// Faults a tester can inject.
public enum Fault: Equatable, Sendable {
    case diskFull          // the card reports no space: writes fail with ENOSPC
    case diskOK            // space again
    case diskStall         // the card stops accepting writes (the writer blocks)
    case diskResume
    case cameraLost        // the sensor stops delivering frames
    case cameraBack
    case corruptFrames(Int) // the next N frames arrive damaged
}

/// `expect FIELD OP VALUE`: an assertion against the status.
public struct Expectation: Equatable, Sendable {
    public enum Op: String, Sendable, CaseIterable { case eq = "=", ne = "!=", le = "<=", ge = ">=", lt = "<", gt = ">" }
    public var field: String
    public var op: Op
    public var value: String

    /// Compares numerically when both sides are numbers, otherwise as text (only = and !=).
    public func holds(for actual: JSON?) -> Bool {
        let actualText: String
        switch actual {
        case .none, .some(.null): actualText = "null"
        case .some(.string(let s)): actualText = s
        case .some(.bool(let b)): actualText = b ? "true" : "false"
        case .some(.int(let i)): actualText = String(i)
        case .some(.double(let d)): actualText = String(d)
        case .some(let other): actualText = other.serialized
        }
        if let a = Double(actualText), let e = Double(value) {
            switch op {
            case .eq: return a == e
            case .ne: return a != e
            case .le: return a <= e
            case .ge: return a >= e
            case .lt: return a < e
            case .gt: return a > e
            }
        }
        switch op {
        case .eq: return actualText == value
        case .ne: return actualText != value
        default: return false
        }
    }
}

/// One line of the stdin script language (see README, "Scripting the camera").
public enum ScriptCommand: Equatable, Sendable {
    case press(Button)
    case double(Button)
    case hold(Button, Nanos)
    case down(Button)
    case up(Button)
    case trigger(TriggerSource)
    case dock
    case undock
    case battery(Int)
    case fault(Fault)
    /// An officer checks the docked camera out (badge tap at the dock).
    case assign(String)
    case wait(Nanos)
    case expect(Expectation)
    case status
    /// Lists the commands (a `help` event).
    case help
    case quit
}

public enum ScriptParser {
    public static let maxLineBytes = 1024

    /// What `help` lists: each command's form and what it does (the README's list, in one place here).
    public static let commands: [(usage: String, does: String)] = [
        ("press BUTTON", "record, function or power: down, 100 ms, up"),
        ("double BUTTON", "two presses, 200 ms apart (double record starts a recording)"),
        ("hold BUTTON DURATION", "down, DURATION, up (hold record 3s stops a recording)"),
        ("down BUTTON | up BUTTON", "raw button edges"),
        ("trigger SOURCE", "holster, taser, lightbar or peer: starts a recording"),
        ("dock | undock", "put on / take off the dock: charge, sync the clock, offload"),
        ("assign OFFICER-ID", "badge tap at the dock: the officer checks the camera out"),
        ("battery PERCENT", "set the battery gauge, 0-100"),
        ("fault KIND", "disk-full, disk-ok, disk-stall, disk-resume, camera-lost, camera-back, corrupt-frames N"),
        ("wait DURATION", "let time pass: 250ms, 3s, 2m, 1h30m"),
        ("expect FIELD OP VALUE", "check a status field: expect state = recording"),
        ("status", "everything the camera knows about itself"),
        ("help", "this list"),
        ("quit", "finalize every recording and stop"),
    ]
    public static let maxWait: Nanos = 24 * 3600 * Nanos.perSecond
    public static let maxHold: Nanos = 600 * Nanos.perSecond
    public static let maxCorruptFrames = 100_000

    /// Parses one line. `nil` for a blank line or a comment; an error message for anything wrong.
    public static func parse(_ line: String) -> Result<ScriptCommand?, ScriptError> {
        var text = Substring(line)
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
        guard let verb = words.first?.lowercased() else { return .success(nil) }
        let args = Array(words.dropFirst())
        func arity(_ n: Int) -> ScriptError? {
            args.count == n ? nil : ScriptError("'\(verb)' takes \(n) argument\(n == 1 ? "" : "s"), got \(args.count)")
        }
        func button(_ s: String) -> Result<Button, ScriptError> {
            Button(rawValue: s.lowercased()).map { .success($0) }
                ?? .failure(ScriptError("unknown button '\(s)' (record, function, power)"))
        }
        func duration(_ s: String, max: Nanos) -> Result<Nanos, ScriptError> {
            guard let d = DurationText.parse(s) else { return .failure(ScriptError("bad duration '\(s)' (e.g. 250ms, 3s, 2m, 1h)")) }
            guard d <= max else { return .failure(ScriptError("duration '\(s)' is over the limit of \(max / Nanos.perSecond) s")) }
            return .success(d)
        }
        switch verb {
        case "press", "double", "down", "up":
            if let e = arity(1) { return .failure(e) }
            return button(args[0]).map { b in
                switch verb {
                case "press": return .press(b)
                case "double": return .double(b)
                case "down": return .down(b)
                default: return .up(b)
                }
            }
        case "hold":
            if let e = arity(2) { return .failure(e) }
            return button(args[0]).flatMap { b in
                duration(args[1], max: maxHold).map { .hold(b, $0) }
            }
        case "trigger":
            if let e = arity(1) { return .failure(e) }
            guard let t = TriggerSource(rawValue: args[0].lowercased()) else {
                return .failure(ScriptError("unknown trigger '\(args[0])' (holster, taser, lightbar, peer)"))
            }
            return .success(.trigger(t))
        case "dock", "undock", "status", "help", "quit":
            if let e = arity(0) { return .failure(e) }
            let bare: [String: ScriptCommand] = ["dock": .dock, "undock": .undock, "status": .status, "help": .help, "quit": .quit]
            return .success(bare[verb]!)
        case "battery":
            if let e = arity(1) { return .failure(e) }
            let v = args[0].hasSuffix("%") ? String(args[0].dropLast()) : args[0]
            guard let p = Int(v), (0...100).contains(p) else {
                return .failure(ScriptError("battery takes a percentage 0-100, got '\(args[0])'"))
            }
            return .success(.battery(p))
        case "fault":
            guard let kind = args.first?.lowercased() else { return .failure(ScriptError("'fault' needs a kind")) }
            switch kind {
            case "disk-full", "disk-ok", "disk-stall", "disk-resume", "camera-lost", "camera-back":
                if let e = arity(1) { return .failure(e) }
                let f: Fault = ["disk-full": .diskFull, "disk-ok": .diskOK, "disk-stall": .diskStall,
                                "disk-resume": .diskResume, "camera-lost": .cameraLost, "camera-back": .cameraBack][kind]!
                return .success(.fault(f))
            case "corrupt-frames":
                if let e = arity(2) { return .failure(e) }
                guard let n = Int(args[1]), (1...maxCorruptFrames).contains(n) else {
                    return .failure(ScriptError("corrupt-frames takes a count 1-\(maxCorruptFrames), got '\(args[1])'"))
                }
                return .success(.fault(.corruptFrames(n)))
            default:
                return .failure(ScriptError("unknown fault '\(args[0])' (disk-full, disk-ok, disk-stall, disk-resume, camera-lost, camera-back, corrupt-frames N)"))
            }
        case "assign":
            if let e = arity(1) { return .failure(e) }
            guard EvidenceNames.isValidOfficerID(args[0]) else {
                return .failure(ScriptError("'\(args[0].prefix(40))' is not an officer id (1-32 of A-Z, a-z, 0-9, '-', '_')"))
            }
            return .success(.assign(args[0]))
        case "wait":
            if let e = arity(1) { return .failure(e) }
            return duration(args[0], max: maxWait).map { .wait($0) }
        case "expect":
            return parseExpectation(args.joined(separator: " ")).map { .expect($0) }
        default:
            return .failure(ScriptError("unknown command '\(words[0])'"))
        }
    }

    /// `state recording`, `state = recording`, `battery<=10`, `battery <= 10`.
    static func parseExpectation(_ text: String) -> Result<Expectation, ScriptError> {
        // Longest operators first so "<=" is not read as "<".
        for op in [Expectation.Op.le, .ge, .ne, .lt, .gt, .eq] {
            if let r = text.firstRange(of: op.rawValue) {
                let field = text[..<r.lowerBound].trimmingSpaces, value = text[r.upperBound...].trimmingSpaces
                guard !field.isEmpty, !value.isEmpty, !field.contains(" "), !value.contains(" ") else { break }
                return .success(Expectation(field: field, op: op, value: value))
            }
        }
        let parts = text.split(separator: " ").map(String.init)
        guard parts.count == 2 else { return .failure(ScriptError("expect takes FIELD VALUE or FIELD<=VALUE (=, !=, <, <=, >, >=)")) }
        return .success(Expectation(field: parts[0], op: .eq, value: parts[1]))
    }
}

public struct ScriptError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
