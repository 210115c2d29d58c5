import BodycamEvidence
import Foundation
import Testing
@testable import BodycamRecords
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ExecutorTests {
    /// The service answers while every thread of the shared concurrency pool is blocked (as a test run
    /// full of long synchronous tests blocks it): its tasks run on the ServiceExecutor's threads.
    @Test func theServiceAnswersWhileTheSharedPoolIsBlocked() async throws {
        let s = try await RunningService.start()
        defer { s.stop() }
        let port = s.port
        let blockers = (0..<ProcessInfo.processInfo.activeProcessorCount).map { _ in
            Task.detached { usleep(3_000_000) } // blocks a pool thread for 3 s
        }
        // Timed on a thread of its own; the test resumes only when the pool is free again.
        let seconds = try await Blocking.run { () throws -> Double in
            usleep(200_000) // let the blockers take the pool
            let start = Date()
            let reply = try HTTPClient.sendBlocking(port: port, method: "POST", target: RecordsWire.dockPath, headers: [], body: [])
            guard reply.status == 401 else { throw HTTPClient.Failure(description: "status \(reply.status)") }
            return Date().timeIntervalSince(start)
        }
        for b in blockers { await b.value }
        #expect(seconds < 2, "the answer took \(seconds) s")
    }
}
