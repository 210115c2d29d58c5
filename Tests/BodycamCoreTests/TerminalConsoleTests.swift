import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence
@testable import BodycamTerminal
#if canImport(Glibc)
import Glibc
#endif

/// The console's queue: the camera's threads never wait for a slow terminal; what did not fit is counted
/// and said, and everything queued before the end is printed.
struct TerminalConsoleTests {
    @Test func aStalledTerminalNeverBlocksTheEmittersAndTheLossIsSaid() throws {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        let console = TerminalConsole(outputFD: ends[1], keyboardFD: nil)
        // Nobody reads the pipe yet: once its buffer is full, the console's thread waits in write().
        let posted = ConditionLock()
        var done = false
        let emitter = OSThread {
            for i in 0..<(TerminalConsole.queueCapacity * 4) {
                console.post(Event("battery", mono: Int64(i), utc: 0, [("level", .int(Int64(i % 100))), ("charging", .bool(false))]))
            }
            posted.withLock { done = true }
        }
        let deadline = Date().addingTimeInterval(60)
        while !posted.withLock({ done }) && Date() < deadline { usleep(10_000) }
        #expect(posted.withLock { done }, "post waited for the terminal")

        // Now the terminal reads again: the rest comes out, with the count of what was dropped.
        var output: [UInt8] = []
        let readEnd = ends[0]
        let reader = OSThread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = read(readEnd, &buffer, buffer.count)
                if n <= 0 { break }
                output += buffer[0..<n]
            }
        }
        console.say("bodycam: the end \u{1B}[2J")
        console.finish()
        close(ends[1])
        reader.join()
        emitter.join()
        close(ends[0])
        let text = String(decoding: output, as: UTF8.self)
        let notShown = text.range(of: "… [0-9]+ events not shown \\(all are in the audit trail and --json\\)", options: .regularExpression)
        #expect(notShown != nil, "\(text.suffix(500))")
        let shownLines = text.components(separatedBy: "Battery ").count - 1
        #expect(shownLines < TerminalConsole.queueCapacity * 4 && shownLines > 0)
        #expect(text.contains("bodycam: the end ?[2J"), "messages are printed, sanitized")
    }
}
