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
        // Every pool thread is held until the answer has come: if the service needed the pool it could not
        // answer at all, and the request would fail on its receive timeout instead.
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let gate = DispatchSemaphore(value: 0)
        let blockers = (0..<threads).map { _ in Task.detached { gate.wait() } }
        let status = try await Blocking.run { () throws -> Int in
            defer { for _ in 0..<threads { gate.signal() } }
            usleep(200_000) // let the blockers take the pool
            return try HTTPClient.sendBlocking(port: port, method: "POST", target: RecordsWire.dockPath, headers: [], body: []).status
        }
        for b in blockers { await b.value }
        #expect(status == 401)
    }
}
