import Foundation
import Testing
@testable import BodycamCore
#if canImport(Glibc)
import Glibc
#endif

/// The camera at a terminal, end to end: the built binary on a pseudo-terminal, typed at like a person
/// would (real clock, as a person gets). Timeouts are generous and nothing asserts wall-clock durations:
/// these run on loaded machines.
@Suite(.serialized)
struct TerminalSessionTests {
    /// A pseudo-terminal whose master side is drained by its own thread (a child writing to a terminal
    /// nobody reads blocks once the buffer fills).
    final class PTY: @unchecked Sendable {
        let master: Int32
        let slave: Int32
        private let lock = NSLock()
        private var bytes: [UInt8] = []
        private var stopped = false
        private var reader: Thread?

        init(columns: UInt16 = 100, rows: UInt16 = 30) throws {
            // posix_openpt and ptsname are not in Swift's Glibc module: what they do, by hand. The ioctl
            // numbers are Linux's generic ones (x86-64, arm64): TIOCSPTLCK unlocks, TIOCGPTN names the slave.
            master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
            var unlock: Int32 = 0
            var number: UInt32 = 0
            guard master >= 0, ioctl(master, 0x4004_5431, &unlock) == 0, ioctl(master, 0x8004_5430, &number) == 0 else {
                throw TestError("no pseudo-terminal: \(String(cString: strerror(errno)))")
            }
            slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY | O_CLOEXEC)
            guard slave >= 0 else { throw TestError("cannot open the pty's slave") }
            var size = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
            _ = ioctl(master, UInt(TIOCSWINSZ), &size)
            let t = Thread { [unowned self] in self.drain() }
            reader = t
            t.start()
        }

        private func drain() {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !lock.withLock({ stopped }) {
                var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 50) > 0 else { continue }
                let n = read(master, &buffer, buffer.count)
                if n > 0 { lock.withLock { bytes += buffer[0..<n] } } else if n < 0 && errno != EINTR && errno != EAGAIN { usleep(10_000) }
            }
        }

        var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }

        func type(_ s: String) { _ = s.withCString { write(master, $0, strlen($0)) } }

        /// Waits until the output matches `pattern` (a regular expression); false after `timeout` seconds.
        func waitFor(_ pattern: String, timeout: Double = 90) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if text.range(of: pattern, options: .regularExpression) != nil { return true }
                usleep(50_000)
            }
            return false
        }

        func settings() -> termios {
            var t = termios()
            tcgetattr(slave, &t)
            return t
        }

        func close() {
            lock.withLock { stopped = true }
            while reader?.isFinished == false { usleep(10_000) }
            Glibc.close(slave)
            Glibc.close(master)
        }
    }

    static func same(_ a: termios, _ b: termios) -> Bool {
        var a = a, b = b
        let ab = withUnsafeBytes(of: &a) { Array($0) }, bb = withUnsafeBytes(of: &b) { Array($0) }
        return ab == bb
    }

    static func start(_ arguments: [String], stdin: FileHandle, stdout: FileHandle, stderr: FileHandle) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.binary)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["TERM"] = "xterm-256color"
        env.removeValue(forKey: "NO_COLOR")
        p.environment = env
        p.standardInput = stdin
        p.standardOutput = stdout
        p.standardError = stderr
        try p.run()
        return p
    }

    /// The exit status, or nil if the process still runs after `limit` seconds (then it is killed).
    static func exitStatus(_ p: Process, within limit: Double = 120) -> Int32? {
        let deadline = Date().addingTimeInterval(limit)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        guard !p.isRunning else {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            return nil
        }
        return p.terminationStatus
    }

    @Test func aPersonAtTheTerminalGetsAPromptHelpEnglishAndALiveStatus() throws {
        let pty = try PTY()
        defer { pty.close() }
        let before = pty.settings()
        let storage = TestSupport.temporaryDirectory("terminal")
        let handle = FileHandle(fileDescriptor: pty.slave, closeOnDealloc: false)
        let p = try Self.start(["run", "-o", storage, "-s", "160x120", "-r", "10", "--records", storage + "-records"],
                               stdin: handle, stdout: handle, stderr: handle)
        // The prompt, then the camera booted (a double press while booting does nothing).
        #expect(pty.waitFor("bodycam> "), "no prompt: \(pty.text.suffix(2000))")
        #expect(pty.waitFor("Ready \\(was booting"), "not ready: \(pty.text.suffix(2000))")
        #expect(Self.same(pty.settings(), before) == false, "the prompt's mode (no echo, keys one at a time) is on")

        pty.type("help\r")
        #expect(pty.waitFor("Commands \\(one a line"), "no help: \(pty.text.suffix(2000))")
        #expect(pty.waitFor("hold BUTTON DURATION +down, DURATION, up"))

        pty.type("double record\r")
        #expect(pty.waitFor("> double record"))
        #expect(pty.waitFor("Recording BWV-0001-000001 started \\(record button\\)"), "\(pty.text.suffix(2000))")
        // The status line's clock runs: REC (red on a colour terminal) and a time past zero.
        #expect(pty.waitFor("● REC(\u{1B}\\[0m)? (?!00:00:00)[0-9]{2}:[0-5][0-9]:[0-5][0-9]"), "no running REC status: \(pty.text.suffix(2000))")

        pty.type("quit\r")
        #expect(Self.exitStatus(p) == 0, "\(pty.text.suffix(3000))")
        // The last thing printed ends the line (the shell's prompt starts on a fresh one), once drained.
        // The end: the last event line ends, and the footer (status and prompt) is erased: back to its first
        // row (the one under the last event), cleared to the end of the screen. The shell starts there.
        #expect(pty.waitFor("Stats: [^\r\n]*\r\n", timeout: 10))
        let erased = "\r\u{1B}[A\u{1B}[J"
        let drained = Date().addingTimeInterval(10)
        while !pty.text.hasSuffix(erased) && Date() < drained { usleep(50_000) }
        #expect(pty.text.hasSuffix(erased), "\(pty.text.suffix(500).debugDescription)")
        let out = pty.text
        #expect(Self.same(pty.settings(), before), "the terminal's settings were not restored")
        #expect(!out.contains("{\"event\""), "JSON on a terminal")
        #expect(out.contains("Recording BWV-0001-000001 saved"), "\(out.suffix(2000))")
        #expect(TestSupport.segments(in: storage).count >= 1, "no recording in \(storage)")
        // Nothing from the camera but our own drawing reaches the terminal as an escape sequence.
        let sequences = out.components(separatedBy: "\u{1B}").dropFirst().map { String($0.prefix(8)) }
        #expect(sequences.allSatisfy { $0.hasPrefix("[A") || $0.hasPrefix("[J") || $0.range(of: "^\\[[0-9;]*[Cm]", options: .regularExpression) != nil },
                "unexpected escape sequences: \(Set(sequences))")
    }

    /// On the dock, the status line carries the transfer: percent, bytes, the dock's rate, time left.
    @Test func theStatusLineShowsTheOffloadOnTheDock() throws {
        let pty = try PTY()
        defer { pty.close() }
        let storage = TestSupport.temporaryDirectory("terminal-dock")
        let handle = FileHandle(fileDescriptor: pty.slave, closeOnDealloc: false)
        let p = try Self.start(["run", "-o", storage, "-s", "160x120", "-r", "10", "--records", storage + "-records",
                                "--offload-rate", "20000"], stdin: handle, stdout: handle, stderr: handle)
        #expect(pty.waitFor("Ready \\(was booting"), "\(pty.text.suffix(2000))")
        pty.type("double record\r")
        #expect(pty.waitFor("● REC(\u{1B}\\[0m)? (?!00:00:0[01])[0-9]{2}:[0-5][0-9]:[0-5][0-9]"), "\(pty.text.suffix(2000))")
        pty.type("dock\r")
        #expect(pty.waitFor("DOCKED charging  offload [0-9]+%  [0-9.]+/[0-9.]+ [kM]B  20 kB/s  [0-9]+ (s|min)"),
                "\(pty.text.suffix(2000))")
        pty.type("quit\r")
        #expect(Self.exitStatus(p) == 0)
        // No progress bar anywhere but the status line (it is in JSON mode only, on stderr).
        #expect(!pty.text.contains("offload ["))
    }

    /// Ctrl-Z (SIGTSTP) gives the shell its terminal back as it was; `fg` (SIGCONT) brings the prompt back.
    @Test func ctrlZRestoresTheTerminalAndFgTakesItBack() throws {
        let pty = try PTY()
        defer { pty.close() }
        let before = pty.settings()
        let storage = TestSupport.temporaryDirectory("terminal-tstp")
        let handle = FileHandle(fileDescriptor: pty.slave, closeOnDealloc: false)
        let p = try Self.start(["run", "-o", storage, "-s", "160x120", "-r", "10"], stdin: handle, stdout: handle, stderr: handle)
        #expect(pty.waitFor("bodycam> "))
        #expect(!Self.same(pty.settings(), before))
        kill(p.processIdentifier, SIGTSTP)
        #expect(Self.eventually { Self.same(pty.settings(), before) }, "stopped with the prompt's settings in place")
        kill(p.processIdentifier, SIGCONT)
        #expect(Self.eventually { !Self.same(pty.settings(), before) }, "continued without the prompt's settings")
        pty.type("status\r")
        #expect(pty.waitFor("Status: "), "\(pty.text.suffix(2000))")
        pty.type("quit\r")
        #expect(Self.exitStatus(p) == 0)
        #expect(Self.same(pty.settings(), before))
    }

    static func eventually(_ timeout: Double = 30, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    @Test func ctrlDOnAnEmptyPromptEndsTheRunAndRestoresTheTerminal() throws {
        let pty = try PTY(columns: 40)
        defer { pty.close() }
        let before = pty.settings()
        let storage = TestSupport.temporaryDirectory("terminal-eof")
        let handle = FileHandle(fileDescriptor: pty.slave, closeOnDealloc: false)
        let p = try Self.start(["run", "-o", storage, "-s", "160x120", "-r", "10"], stdin: handle, stdout: handle, stderr: handle)
        #expect(pty.waitFor("bodycam> "))
        pty.type("statu\u{7F}us\u{1B}[D\u{1B}[D\u{1B}[C\u{1B}[C\r")
        #expect(pty.waitFor("Status: "), "\(pty.text.suffix(2000))")
        pty.type("\u{4}")
        #expect(Self.exitStatus(p) == 0, "\(pty.text.suffix(3000))")
        #expect(Self.same(pty.settings(), before))
        #expect(!pty.text.contains("{\"event\""))
    }

    /// The second Ctrl-C exits at once (130) from the signal handler, which puts the terminal's settings
    /// back first. The second signal is sent as soon as the first has been taken (so they do not merge);
    /// if the clean stop still wins the race (exit 0), the settings must be back all the same.
    @Test func aSecondCtrlCRestoresTheTerminalBeforeExiting() throws {
        let pty = try PTY()
        defer { pty.close() }
        let before = pty.settings()
        let storage = TestSupport.temporaryDirectory("terminal-sigint")
        let handle = FileHandle(fileDescriptor: pty.slave, closeOnDealloc: false)
        let p = try Self.start(["run", "-o", storage, "-s", "160x120", "-r", "10"], stdin: handle, stdout: handle, stderr: handle)
        #expect(pty.waitFor("Ready \\(was booting"), "\(pty.text.suffix(2000))")
        pty.type("double record\r")
        #expect(pty.waitFor("Recording BWV-0001-000001 started"))
        #expect(!Self.same(pty.settings(), before))
        let pid = p.processIdentifier
        kill(pid, SIGINT)
        // SIGINT is bit 2 of the pending masks in /proc/PID/status: wait until it has been delivered.
        let pending = Date().addingTimeInterval(5)
        while Date() < pending, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              status.split(separator: "\n").contains(where: { ($0.hasPrefix("SigPnd:") || $0.hasPrefix("ShdPnd:"))
                  && (UInt64($0.split(separator: "\t").last ?? "", radix: 16) ?? 0) & 2 != 0 }) {}
        kill(pid, SIGINT)
        let status = Self.exitStatus(p, within: 60)
        #expect(status == 130 || status == 0)
        #expect(Self.same(pty.settings(), before), "the terminal's settings were not restored (exit \(status ?? -1))")
    }

    /// A pipe or a file gets JSON Lines, as always, even when a person types at the terminal (stdin).
    @Test func stdoutToAPipeKeepsJSONLinesWhileStdinIsATerminal() throws {
        let pty = try PTY()
        defer { pty.close() }
        let before = pty.settings()
        let storage = TestSupport.temporaryDirectory("terminal-pipe")
        let out = storage + "-stdout"
        FileManager.default.createFile(atPath: out, contents: nil)
        let handle = FileHandle(fileDescriptor: pty.slave, closeOnDealloc: false)
        let p = try Self.start(["run", "-o", storage, "-s", "160x120", "-r", "10"],
                               stdin: handle, stdout: try FileHandle(forWritingTo: URL(fileURLWithPath: out)), stderr: handle)
        #expect(pty.waitFor("type commands"), "\(pty.text.suffix(2000))")
        #expect(Self.same(pty.settings(), before), "no console: the terminal is left as it is")
        pty.type("help\rstatus\rquit\r")
        #expect(Self.exitStatus(p) == 0, "\(pty.text.suffix(2000))")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count > 5)
        let events = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(events.count == lines.count, "every stdout line is a JSON object")
        #expect(events.first?["event"] as? String == "camera")
        #expect(events.contains { $0["event"] as? String == "status" })
        let help = events.first { $0["event"] as? String == "help" }
        #expect((help?["commands"] as? [[String: Any]])?.contains { $0["usage"] as? String == "quit" } == true)
        #expect(!pty.text.contains("bodycam> "))
    }

    /// `--json` on a terminal: JSON Lines, no status line, no prompt.
    @Test func jsonFlagKeepsJSONLinesOnATerminal() throws {
        let pty = try PTY()
        defer { pty.close() }
        let storage = TestSupport.temporaryDirectory("terminal-json")
        let handle = FileHandle(fileDescriptor: pty.slave, closeOnDealloc: false)
        let script = storage + "-script"
        try "wait 3s\ndouble record\nwait 2s\nhold record 3s\nquit\n".write(toFile: script, atomically: true, encoding: .utf8)
        let p = try Self.start(["run", "--json", "-o", storage, "-s", "160x120", "-r", "5", "--script", script],
                               stdin: handle, stdout: handle, stderr: handle)
        #expect(Self.exitStatus(p) == 0)
        #expect(pty.waitFor("\"event\":\"stats\""), "\(pty.text.suffix(2000))")
        let text = pty.text
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        #expect(lines.allSatisfy { $0.hasPrefix("{\"event\":") }, "\(text.prefix(2000))")
        #expect(!text.contains("bodycam> ") && !text.contains("● REC") && !text.contains("\u{1B}"))
    }

    /// A script on the virtual clock, shown to a person: English and a status line, no prompt; it ends.
    @Test func aScriptOnATerminalReadsAsEnglishWithoutAPrompt() throws {
        let pty = try PTY()
        defer { pty.close() }
        let storage = TestSupport.temporaryDirectory("terminal-script")
        let handle = FileHandle(fileDescriptor: pty.slave, closeOnDealloc: false)
        let script = storage + "-script"
        try "wait 3s\ndouble record\nwait 2s\nstatus\nhold record 3s\nassign \u{1B}[2J\nquit\n".write(toFile: script, atomically: true, encoding: .utf8)
        let p = try Self.start(["run", "-o", storage, "-s", "160x120", "-r", "5", "--script", script],
                               stdin: handle, stdout: handle, stderr: handle)
        #expect(Self.exitStatus(p) == 0)
        #expect(pty.waitFor("Stats: "), "\(pty.text.suffix(2000))")
        let text = pty.text
        #expect(text.contains("Recording BWV-0001-000001 started"))
        #expect(text.contains("Status: recording"))
        // The hostile script line is reported, but its escape sequence is not passed on.
        #expect(text.contains("Line 6: "), "\(text.suffix(2000))")
        #expect(!text.contains("\u{1B}[2J"))
        #expect(!text.contains("{\"event\"") && !text.contains("bodycam> "))
    }
}
