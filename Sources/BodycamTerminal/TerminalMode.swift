#if canImport(Glibc)
import Glibc
#endif

/// The prompt's terminal settings: non-canonical, no echo, ISIG kept (Ctrl-C still raises SIGINT, which
/// the camera handles), and the saved settings put back on every way out. The saved copy lives in plain
/// globals so that a signal handler can restore it (`tcsetattr` is async-signal-safe; nothing here
/// allocates or locks).
public enum TerminalMode {
    nonisolated(unsafe) private static var saved = termios()
    nonisolated(unsafe) private static var savedFD: Int32 = -1

    /// Puts `fd` (a terminal) in the prompt's mode and remembers how it was. False if it is not a terminal.
    public static func enterPromptMode(fd: Int32) -> Bool {
        var original = termios()
        guard tcgetattr(fd, &original) == 0 else { return false }
        saved = original
        savedFD = fd
        var t = original
        // Keys one at a time, not echoed: the console draws the line itself. ISIG stays on (Ctrl-C),
        // output processing stays on ("\n" still moves to the start of the next line).
        t.c_lflag &= ~tcflag_t(ICANON | ECHO | ECHONL | IEXTEN)
        t.c_iflag &= ~tcflag_t(IXON | ICRNL | INLCR | IGNCR)
        withUnsafeMutableBytes(of: &t.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(fd, TCSADRAIN, &t) == 0 else {
            savedFD = -1
            return false
        }
        return true
    }

    /// Puts the saved settings back (once; later calls do nothing). Async-signal-safe: the second Ctrl-C's
    /// handler calls it before `_exit`.
    public static func restore() {
        let fd = savedFD
        guard fd >= 0 else { return }
        savedFD = -1
        _ = tcsetattr(fd, TCSANOW, &saved)
    }
}
