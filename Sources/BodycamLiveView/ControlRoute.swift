import BodycamCore
import BodycamEvidence
import Hummingbird
import NIOCore

/// `POST /control`: one script command as the body (text/plain), what a person could do to the camera
/// itself: `press|double|hold BUTTON [DURATION]`, `down|up BUTTON`, `trigger SOURCE`, `dock`, `undock`,
/// `status`, `quit`. It joins the script's input queue, stamped with the camera's time on arrival, so it
/// is carried out (and a refusal reported as an `error` event) exactly as if typed. Answers 202 once
/// queued; 400 with the parser's message for a bad line; 403 for a script-only command (`wait`,
/// `expect`, `battery`, `fault`, `assign`: not buttons, and `wait` would hold up the keyboard's lines);
/// 413 over `maxBodyBytes`; 503 when the queue is full or the camera is not running.
struct ControlRoute: Sendable {
    let control: RemoteControl
    let maxBodyBytes: Int
    /// The body must be in this long after the head (a client dribbling bytes holds a connection).
    let bodySeconds: Int64

    func response(_ request: Request, _ context: LiveViewContext) async throws -> Response {
        if let declared = request.headers[.contentLength] {
            guard let n = Int(declared), n >= 0 else { return LiveReply.error("Content-Length is not a number", status: .badRequest) }
            guard n <= maxBodyBytes else { return tooLarge(n) }
        }
        var body: [UInt8] = []
        var over = false
        try await context.channel.bounded(seconds: bodySeconds) {
            for try await part in request.body {
                guard body.count + part.readableBytes <= maxBodyBytes else { over = true; break }
                body.append(contentsOf: part.readableBytesView)
            }
        }
        if over { return tooLarge(nil) }
        return submit(body)
    }

    /// The command in `body`, checked and queued (separate from the HTTP reading, for tests).
    func submit(_ body: [UInt8]) -> Response {
        guard let text = String(validating: body, as: UTF8.self) else {
            return LiveReply.error("the command is not UTF-8 text", status: .badRequest)
        }
        var line = Substring(text)
        while line.last == "\n" || line.last == "\r" { line = line.dropLast() }
        guard !line.contains(where: { $0.isNewline || ($0.isASCII && $0.asciiValue! < 0x20 && $0 != "\t") }) else {
            return LiveReply.error("one command a request, on one line", status: .badRequest)
        }
        let command: ScriptCommand
        switch ScriptParser.parse(String(line)) {
        case .failure(let e): return LiveReply.error(e.message, status: .badRequest)
        case .success(nil): return LiveReply.error("no command (press record, double record, hold record 3s, trigger holster, dock, ...)", status: .badRequest)
        case .success(let c?): command = c
        }
        guard Self.isPersonControl(command) else {
            return LiveReply.error("'\(line.split(separator: " ").first ?? "")' is for scripts only; here: press, double, hold, down, up, trigger, dock, undock, status, quit",
                                   status: .forbidden)
        }
        if case .hold(_, let d) = command, d > Self.maxHold {
            return LiveReply.error("hold at most \(Self.maxHold / Nanos.perSecond)s from the page (the camera takes no other command meanwhile)",
                                   status: .badRequest)
        }
        switch control.submit(String(line)) {
        case .queued:
            return LiveReply.json(.object([("queued", .string(String(line)))]), status: .accepted)
        case .full:
            return LiveReply.busy("the camera is still busy with earlier commands; try again", retryAfterSeconds: 1)
        case .notRunning:
            return LiveReply.busy("the camera is not taking commands (starting or stopping)", retryAfterSeconds: 1)
        }
    }

    /// The longest hold from the page: a person's hold, not a script's (lines wait behind it).
    static let maxHold: Nanos = 30 * Nanos.perSecond

    /// What a person does with the camera: its buttons, triggers, the dock; `status` and `quit` too.
    static func isPersonControl(_ c: ScriptCommand) -> Bool {
        switch c {
        case .press, .double, .hold, .down, .up, .trigger, .dock, .undock, .status, .help, .quit: return true
        case .battery, .fault, .assign, .wait, .expect: return false
        }
    }

    private func tooLarge(_ n: Int?) -> Response {
        LiveReply.error("the body is \(n.map { "\($0) bytes" } ?? "over the limit"): one command of at most \(maxBodyBytes) bytes",
                        status: .contentTooLarge)
    }
}
