import BodycamEvidence
import Foundation
import Testing
@testable import BodycamRecords

/// Review findings on the records service.
@Suite struct ReviewTests {
    /// Finding: the retention job picked candidates by their end alone (500 at a time, oldest end first)
    /// and then, in the transaction, skipped those that reached the records too recently to expire. 500
    /// such recordings (a camera whose clock said 2020 docking a backlog) filled every batch, the job
    /// stopped at the first batch with nothing new, and no expired recording behind them was ever
    /// deleted: non-evidential footage kept past its 31 days for as long as the backlog lasted.
    @Test func recordingsThatArrivedLateDoNotStopTheRetentionJob() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        let r = SyntheticRecording.make(device.identity, number: 1, segments: 1)
        #expect(try await device.upload(r).status == 200)
        let now = s.service.clock()
        let day: Int64 = 86_400 * 1_000_000_000
        let old = UTC.parse("2020-01-01T08:00:00Z") ?? 0
        // 500 recordings that ended in 2020 by their camera's clock but reached the records 10 days later
        // than the one above: not expired when it is.
        try s.service.catalogue.writeNow { tx in
            for n in 1000..<1500 {
                try tx.insertRecording(RecordingRecord(
                    recordingID: EvidenceNames.RecordingID(deviceID: device.id, number: n).text, deviceID: device.id, officer: nil,
                    trigger: "button", startUTC: old, endUTC: old + 10_000_000_000, markers: 0, frames: 10, bytes: 1,
                    manifestSHA256: String(repeating: "a", count: 64), receivedUTC: now + 10 * day, receipt: Array("x\n".utf8)))
            }
        }
        let report = try s.service.runRetention(now: now + 32 * day)
        #expect(report.deleted.map(\.recordingID) == [r.id])
    }
}
