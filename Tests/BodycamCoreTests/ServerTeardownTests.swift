import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Both servers (the records service, the camera's live view) must end promptly when they cannot listen.
/// With the server's tasks on a task executor of our own, the teardown after a failed bind deadlocked in
/// about one start in six on a loaded machine (Swift's task status lock against swift-async-algorithms'
/// merge lock, inside ServiceLifecycle): `bodycam-records serve` and `bodycam run --http` then hung for ever
/// instead of saying the port was taken. Many starts, three at a time, each under a deadline.
@Suite struct ServerTeardownTests {
    static let attempts = 24
    static let together = 3

    /// Runs `arguments` `attempts` times, `together` at once, each killed after 20 s; returns the statuses.
    static func statuses(_ executable: String, _ arguments: [String]) -> [Int32] {
        final class Statuses: @unchecked Sendable { // guarded by `lock`
            let lock = NSLock()
            var all: [Int32] = []
        }
        let statuses = Statuses()
        for _ in 0..<(attempts / together) {
            let group = DispatchGroup()
            for _ in 0..<together {
                DispatchQueue.global().async(group: group) {
                    let dir = TestSupport.temporaryDirectory("teardown")
                    let args = ["-k", "2", "20", executable] + arguments.map { $0.replacingOccurrences(of: "{DIR}", with: dir) }
                    let status = (try? TestSupport.run("/usr/bin/timeout", args))?.status ?? -1
                    statuses.lock.lock()
                    statuses.all.append(status)
                    statuses.lock.unlock()
                }
            }
            group.wait()
        }
        return statuses.all
    }

    @Test func theRecordsServiceEndsWhenItsPortIsTaken() {
        let taken = TestSupport.loopbackListener()
        defer { close(taken.fd) }
        let s = Self.statuses(RecordsServer.binary, ["serve", "--data", "{DIR}/data", "--listen", "127.0.0.1:\(taken.port)"])
        #expect(s.filter { $0 == 124 || $0 == 137 || $0 == 9 }.isEmpty, "hung (killed at the deadline: 124, 137, or signal 9): \(s)")
        #expect(s.allSatisfy { $0 == 1 }, "\(s)")
    }

    @Test func theLiveViewEndsWhenItsPortIsTaken() {
        let taken = TestSupport.loopbackListener()
        defer { close(taken.fd) }
        let s = Self.statuses(TestSupport.binary, ["run", "--http", "127.0.0.1:\(taken.port)", "-o", "{DIR}/storage"])
        #expect(s.filter { $0 == 124 || $0 == 137 || $0 == 9 }.isEmpty, "hung (killed at the deadline: 124, 137, or signal 9): \(s)")
        #expect(s.allSatisfy { $0 == 2 }, "\(s)")
    }
}
