import BodycamCore
import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// The terminal in human mode: event lines scroll; the bottom of the screen is a footer of the live
/// status line and, when a person types the commands, the prompt `bodycam> ` with what is being typed.
///
/// One thread (the console's) does every write to the terminal and every read of the keyboard, so
/// nothing tears the footer. Other threads only queue: `post` never waits for the terminal (a slow or
/// paused terminal costs dropped lines, counted and said, never a stalled camera). Submitted lines go to
/// the script runner through a pipe (`scriptFD` is its read end), so the runner reads a person exactly as
/// it reads a file.
public final class TerminalConsole: @unchecked Sendable {
    public static let prompt = "bodycam> "
    /// Events waiting for the terminal at most; more are counted and dropped.
    public static let queueCapacity = 4096
    /// The status line is redrawn at most this often.
    static let statusInterval: Nanos = 200 * Nanos.perMillisecond
    /// How long the thread waits for a key before it looks at the queue again.
    static let pollMilliseconds: Int32 = 20

    private enum Item {
        case event(Event)
        case note(String)
    }

    private let outputFD: Int32
    private let keyboardFD: Int32?
    /// Read end of the pipe the typed lines go into (nil without a prompt).
    public let scriptFD: Int32?
    private var scriptWriteFD: Int32 = -1

    // Shared with other threads, under `lock`.
    private let lock = ConditionLock()
    private var queue: [Item] = []
    private var dropped = 0
    private var finishing = false
    private var board: LiveStatusBoard?

    // The console thread's own.
    private var thread: OSThread?
    private var editor = LineEditor()
    private var promptOpen: Bool
    private var footerShown = false
    private var footerLines = 0
    private var shownFooter = ""
    private var statusText = ""
    private var statusVersion: UInt64 = .max
    private var statusCheckedAt: Nanos = -Nanos.perSecond
    private let color: Bool

    /// - keyboardFD: the terminal a person types at (its settings change while the console runs), or nil
    ///   when commands come from elsewhere (a script, a pipe): then there is no prompt.
    public init(outputFD: Int32 = STDOUT_FILENO, keyboardFD: Int32?) {
        self.outputFD = outputFD
        let env = { (name: String) in getenv(name).map { String(cString: $0) } }
        color = env("NO_COLOR") == nil && env("TERM") != "dumb"
        var prompting = false
        if let k = keyboardFD, TerminalMode.enterPromptMode(fd: k) {
            prompting = true
        }
        var ends: [Int32] = [-1, -1]
        if prompting && pipe(&ends) == 0 {
            for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            // The console never waits on the runner: a full pipe drops the line (with a note).
            _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
            scriptFD = ends[0]
            scriptWriteFD = ends[1]
        } else {
            if prompting { TerminalMode.restore() }
            prompting = false
            scriptFD = nil
        }
        self.keyboardFD = prompting ? keyboardFD : nil
        promptOpen = prompting
        thread = OSThread { [unowned self] in self.loop() }
    }

    /// Shows this board's status in the status line from now on.
    public func watch(_ board: LiveStatusBoard) { lock.withLock { self.board = board } }

    /// Queues an event for the terminal, from any thread. Never waits for the terminal.
    public func post(_ event: Event) {
        lock.withLock {
            if queue.count >= Self.queueCapacity { dropped += 1 } else { queue.append(.event(event)) }
        }
    }

    /// A message for the person (what would go to stderr), printed in the scrollback.
    public func say(_ message: String) { lock.withLock { queue.append(.note(message)) } }

    /// Prints everything queued, erases the footer (the cursor is left on a fresh line), restores the
    /// terminal's settings and stops the thread. Safe to call more than once.
    public func finish() {
        guard let t = thread else { return }
        lock.withLock { finishing = true }
        t.join()
        thread = nil
        TerminalMode.restore()
        if scriptWriteFD >= 0 { close(scriptWriteFD); scriptWriteFD = -1 }
        // The runner has stopped reading by now (its reader thread is joined before the run returns).
        if let fd = scriptFD { close(fd) }
    }

    // MARK: - The console thread

    private func loop() {
        while true {
            let (items, lost, done, board) = lock.withLock { () -> ([Item], Int, Bool, LiveStatusBoard?) in
                defer { queue.removeAll(keepingCapacity: true); dropped = 0 }
                return (queue, dropped, finishing, self.board)
            }
            let width = terminalWidth()
            var out = ""
            if TerminalMode.takeResumed() {
                // Back from Ctrl-Z: the shell wrote below the old footer. Start a new one on a fresh line.
                footerShown = false
                out += "\r\n"
            }
            var scroll: [String] = []
            for item in items {
                switch item {
                case .event(let e): scroll += EventText.lines(e)
                case .note(let text): scroll.append(TerminalText.printable(text))
                }
            }
            if lost > 0 {
                scroll.append("… \(lost) events not shown (all are in the audit trail and --json)")
            }
            if !done { scroll += readKeys() }
            if !scroll.isEmpty {
                out += eraseFooter()
                for line in scroll { out += line + "\n" }
            }
            refreshStatus(board, width: width)
            if done {
                // The end: the footer goes (the camera is off: its last status would mislead), and the
                // cursor is left at the start of a fresh line, under the last event.
                write(out + eraseFooter())
                return
            }
            let footer = footerText(width: width)
            if !footerShown || footer != shownFooter {
                out += eraseFooter() + footer
                footerShown = true
                shownFooter = footer
                footerLines = promptOpen ? 2 : 1
            }
            write(out)
            var p = pollfd(fd: keyboardFD ?? -1, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, keyboardFD == nil || !promptOpen ? 0 : 1, Self.pollMilliseconds)
        }
    }

    /// Reads what was typed; returns the lines to show in the scrollback (the submitted commands).
    private func readKeys() -> [String] {
        guard let k = keyboardFD, promptOpen else { return [] }
        var shown: [String] = []
        var p = pollfd(fd: k, events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, 0) > 0 {
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = read(k, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { closeInput(); break }  // the terminal went away
            for outcome in editor.feed(Array(buffer[0..<n])) {
                switch outcome {
                case .submitted(let line):
                    shown.append("> " + TerminalText.printable(line))
                    if !send(line + "\n") { shown.append("(the camera is not reading commands: line dropped)") }
                case .endOfInput:
                    closeInput()
                    return shown
                }
            }
        }
        return shown
    }

    private func send(_ text: String) -> Bool {
        guard scriptWriteFD >= 0 else { return false }
        var t = text
        return t.withUTF8 { $0.count == Glibc.write(scriptWriteFD, $0.baseAddress, $0.count) }
    }

    /// Ctrl-D or a closed terminal: the runner sees the end of input; the prompt goes.
    private func closeInput() {
        promptOpen = false
        if scriptWriteFD >= 0 { close(scriptWriteFD); scriptWriteFD = -1 }
    }

    /// Re-renders the status text when the board changed and the last check is old enough.
    private func refreshStatus(_ board: LiveStatusBoard?, width: Int) {
        guard let board else { return }
        let now = Self.monotonic()
        guard now - statusCheckedAt >= Self.statusInterval else { return }
        let (status, version) = board.latest
        statusCheckedAt = now
        // The width matters too: a resized terminal gets a line that fits.
        guard version != statusVersion || shownWidth != width else { return }
        statusVersion = version
        shownWidth = width
        statusText = StatusLineText.render(status, width: width - 1)
    }
    private var shownWidth = 0

    private func footerText(width: Int) -> String {
        var footer = styled(statusText)
        if promptOpen {
            // A very narrow window gets a short prompt: the line must not wrap (the footer would be taller
            // than it is counted when erased).
            let prompt = width >= Self.prompt.count + 8 ? Self.prompt : ">"
            let room = max(0, width - 1 - prompt.count)
            let (text, column) = editor.visible(width: room)
            footer += "\r\n" + prompt + text + "\r"
            let col = prompt.count + column
            if col > 0 { footer += "\u{1B}[\(col)C" }
        }
        return footer
    }

    /// `● REC` in red when the terminal takes colour.
    private func styled(_ status: String) -> String {
        guard color, status.hasPrefix("● REC") else { return status }
        return "\u{1B}[1;31m● REC\u{1B}[0m" + status.dropFirst("● REC".count)
    }

    /// Moves to the footer's first line and clears to the end of the screen.
    private func eraseFooter() -> String {
        guard footerShown else { return "" }
        footerShown = false
        return "\r" + String(repeating: "\u{1B}[A", count: max(0, footerLines - 1)) + "\u{1B}[J"
    }

    private func terminalWidth() -> Int {
        var size = winsize()
        guard ioctl(outputFD, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    private func write(_ text: String) {
        guard !text.isEmpty else { return }
        var t = text
        t.withUTF8 { buf in
            var done = 0
            while done < buf.count {
                let n = Glibc.write(outputFD, buf.baseAddress! + done, buf.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }  // the terminal is gone: the camera goes on
                done += n
            }
        }
    }

    static func monotonic() -> Nanos {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Nanos(ts.tv_sec) * Nanos.perSecond + Nanos(ts.tv_nsec)
    }
}
