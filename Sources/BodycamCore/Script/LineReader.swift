import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif

/// Reads the control script line by line from a file descriptor (stdin or `--script FILE`), with a
/// bounded buffer: a line longer than the limit is reported and skipped, never buffered whole.
public final class LineReader {
    public enum Next: Equatable {
        case line(String, number: Int)
        case tooLong(number: Int)
        case endOfInput
        case nothingYet  // the timeout passed with no complete line
    }

    private let fd: Int32
    private let maxLine: Int
    private var buffer: [UInt8]
    private var count = 0
    private var skipping = false  // inside an over-long line: discard to its newline
    private var eof = false
    private var lineNumber = 0

    public init(fd: Int32, maxLine: Int = ScriptParser.maxLineBytes) {
        self.fd = fd
        self.maxLine = maxLine
        buffer = [UInt8](repeating: 0, count: maxLine + 1)
    }

    /// The next line. `timeout` nil blocks; 0 only takes what is already there.
    public func next(timeout: Nanos?) -> Next {
        while true {
            if let r = takeBufferedLine() { return r }
            if eof {
                if count > 0 || skipping {
                    // A last line without a newline still counts.
                    lineNumber += 1
                    let wasSkipping = skipping
                    let text = decode(count)
                    count = 0
                    skipping = false
                    return wasSkipping ? .tooLong(number: lineNumber) : .line(text, number: lineNumber)
                }
                return .endOfInput
            }
            if let timeout {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                // Clamped: a negative or huge timeout must not trap converting to poll's Int32.
                let ms = Int32(min(max(timeout / Nanos.perMillisecond, 0), Nanos(Int32.max)))
                let r = poll(&p, 1, ms)
                if r == 0 || (r < 0 && errno == EINTR) { return .nothingYet }
            }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, maxLine + 1 - count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { eof = true; continue }
            count += n
        }
    }

    private func takeBufferedLine() -> Next? {
        if let nl = buffer[0..<count].firstIndex(of: 10) {
            lineNumber += 1
            let result: Next = skipping ? .tooLong(number: lineNumber) : .line(decode(nl), number: lineNumber)
            skipping = false
            consume(nl + 1)
            return result
        }
        if count > maxLine {
            // No newline within the limit: drop what we have and skip to the end of the line.
            skipping = true
            count = 0
        }
        return nil
    }

    private func consume(_ n: Int) {
        buffer.withUnsafeMutableBytes { b in
            if count > n { b.baseAddress!.copyMemory(from: b.baseAddress! + n, byteCount: count - n) }
        }
        count -= n
    }

    private func decode(_ n: Int) -> String { String(decoding: buffer[0..<n], as: UTF8.self) }
}
