#if canImport(Glibc)
import Glibc
#endif

/// The prompt's terminal settings: non-canonical, no echo, ISIG kept (Ctrl-C still raises SIGINT, which
/// the camera handles), and the saved settings put back on every way out. The saved copy lives in plain
/// globals so that a signal handler can restore it (`tcsetattr` is async-signal-safe; nothing here
/// allocates or locks).
public enum TerminalMode {
    nonisolated(unsafe) private static var saved = termios()
    nonisolated(unsafe) private static var prompt = termios()
    nonisolated(unsafe) private static var savedFD: Int32 = -1
    /// Set when the process was continued after Ctrl-Z: the console redraws its footer.
    nonisolated(unsafe) private static var resumed: sig_atomic_t = 0

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
        prompt = t
        // Ctrl-Z: the shell gets its terminal back as it was; `fg` gets the prompt back.
        signal(SIGTSTP) { _ in TerminalMode.suspend() }
        // A parent may have started us with it blocked (the mask is inherited): it must get through.
        var suspend = sigset_t()
        sigemptyset(&suspend)
        sigaddset(&suspend, SIGTSTP)
        pthread_sigmask(SIG_UNBLOCK, &suspend, nil)
        return true
    }

    /// SIGTSTP's handler (async-signal-safe): the saved settings, a real stop (SIGSTOP cannot be caught),
    /// and once continued the prompt's settings again.
    private static func suspend() {
        let fd = savedFD
        if fd >= 0 { _ = tcsetattr(fd, TCSANOW, &saved) }
        _ = kill(getpid(), SIGSTOP)
        if fd >= 0 && savedFD >= 0 {
            _ = tcsetattr(fd, TCSANOW, &prompt)
            resumed = 1
        }
    }

    /// Whether the process was continued after a Ctrl-Z since the last call (the screen has moved on: the
    /// footer must be drawn afresh, not erased).
    public static func takeResumed() -> Bool {
        guard resumed != 0 else { return false }
        resumed = 0
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
