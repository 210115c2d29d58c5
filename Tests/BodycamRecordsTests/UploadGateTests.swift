import BodycamEvidence
import Foundation
import Hummingbird
import Testing
@testable import BodycamRecords

/// A node takes a bounded number of uploads at once; the rest are answered 503 with when to come back,
/// counted, and taken once a place is free.
@Suite struct UploadGateTests {
    @Test func overTheLimitIsToldToComeBackAndCounted() async throws {
        let gate = UploadGate(limit: 2, waitMilliseconds: 100, retryAfterSeconds: 7)
        let (held, release) = AsyncStream<Void>.makeStream()
        let started = AsyncStream<Void>.makeStream()
        // Two uploads hold both places until released.
        let holders = (0..<2).map { _ in
            Task {
                try await gate.run {
                    started.continuation.yield()
                    for await _ in held { break }
                }
            }
        }
        var it = started.stream.makeAsyncIterator()
        _ = await it.next()
        _ = await it.next()
        #expect(gate.working == 2)
        do {
            try await gate.run { Issue.record("a third upload was worked on with two places") }
            Issue.record("no refusal")
        } catch let r as Refusal {
            #expect(r.kind == .busy && r.retryAfter == 7, "\(r)")
            #expect(Reply.status(r.kind).code == 503)
        }
        #expect(gate.refused == 1)
        release.finish()
        for h in holders { try await h.value }
        #expect(gate.working == 0)
        // A place free again: taken.
        #expect(try await gate.run { 42 } == 42)
        #expect(gate.refused == 1)
    }

    /// One waiting for a place that frees within the wait is taken, not refused.
    @Test func aPlaceFreedWithinTheWaitIsTaken() async throws {
        let gate = UploadGate(limit: 1, waitMilliseconds: 5000, retryAfterSeconds: 5)
        let first = Task { try await gate.run { try await Task.sleep(for: .milliseconds(200)) } }
        while gate.working == 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(try await gate.run { "second" } == "second")
        try await first.value
        #expect(gate.refused == 0)
    }

    /// End to end: with every place of a node held, a camera's chunk is answered 503 with `Retry-After` and
    /// `retry_after`, nothing of it stored; sent again once a place is free, it is taken.
    @Test func aFullNodeAnswersBusyAndTakesTheChunkLater() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let gate = s.service.ingest.gate
        let (held, release) = AsyncStream<Void>.makeStream()
        let holders = (0..<gate.limit).map { _ in Task { try await gate.run { for await _ in held { break } } } }
        while gate.working < gate.limit { try await Task.sleep(for: .milliseconds(5)) }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        let (file, bytes) = r.segments[0]
        let busy = try await device.put(r.id, file, offset: 0, bytes)
        #expect(busy.status == 503, "\(busy.text)")
        #expect(busy.headers["retry-after"] == "5" && busy.error?.retry_after == 5, "\(busy.headers) \(busy.text)")
        #expect(gate.refused == 1)
        #expect(s.storedFiles.isEmpty, "\(s.storedFiles)")
        release.finish()
        for h in holders { try await h.value }
        let taken = try await device.put(r.id, file, offset: 0, bytes)
        #expect(taken.status == 200 && taken.decode(RecordsWire.FileStatus.self)?.offset == bytes.count, "\(taken.text)")
    }
}
