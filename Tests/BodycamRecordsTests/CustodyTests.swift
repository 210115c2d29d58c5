import BodycamEvidence
import Crypto
import Foundation
import Testing
@testable import BodycamRecords

@Suite struct CustodyTests {
    @Test func theChainVerifiesAndAOneByteEditIsFound() async throws {
        let (s, device) = try await serviceWithDevice()
        defer { s.stop() }
        #expect(try await device.upload(SyntheticRecording.make(device.identity, number: 1, segments: 1)).status == 200)
        _ = try await TestDevice("DEV-000077", port: s.port).send("POST", RecordsWire.dockPath)
        let lines = try s.service.catalogue.readNow { try $0.custodyLines(from: 1) }
        let entries = try CustodyLog.check(lines: lines, key: s.serviceKey)
        #expect(entries.map(\.action) == [.enrol, .enrol, .upload, .receipt, .refused])
        // Every byte of every line matters: change one, and that entry (or the next, whose prev no longer
        // matches) is named.
        for (i, line) in lines.enumerated() {
            for position in stride(from: 0, to: line.count, by: 7) {
                var edited = lines
                edited[i][position] ^= 0x01
                #expect(throws: EvidenceError.self) { try CustodyLog.check(lines: edited, key: s.serviceKey) }
            }
        }
        var edited = lines
        edited[2][edited[2].count / 2] ^= 0x01
        do {
            _ = try CustodyLog.check(lines: edited, key: s.serviceKey)
            Issue.record("an edited entry was accepted")
        } catch {
            #expect(error.message.hasPrefix("custody entry 3:"), "\(error.message)")
        }
        // Removing an entry breaks the chain at the one after it; another key's signatures are refused.
        var removed = lines
        removed.remove(at: 1)
        #expect(throws: EvidenceError("custody entry 2: out of sequence (seq 3)")) { try CustodyLog.check(lines: removed, key: s.serviceKey) }
        #expect(throws: EvidenceError.self) { try CustodyLog.check(lines: lines, key: device.identity.publicKey) }
        // The file form: newline-terminated lines.
        let file: [UInt8] = lines.flatMap { $0 + [UInt8(10)] }
        #expect(try CustodyLog.check(bytes: file, key: s.serviceKey).count == lines.count)
        #expect(throws: EvidenceError.self) { try CustodyLog.check(bytes: Array(file.dropLast()), key: s.serviceKey) }
    }

    @Test func anEntryParsesOnlyInTheFormTheServiceWrites() throws {
        let key = Curve25519.Signing.PrivateKey()
        let sign: ([UInt8]) -> Signature = { Signature(raw: Array((try? key.signature(for: $0)) ?? Data())) }
        let entry = CustodyEntry(seq: 1, prev: AuditTrail.genesis, utc: UTC.parse("2026-03-01T08:00:00Z") ?? 0, actor: "admin", action: .officer,
                                 officer: "PC-1", detail: "officer added \"quoted\" \\ and ünïcode")
        let line = entry.line(sign)
        #expect(try CustodyEntry.parse(line[...]).entry == entry)
        let text = String(decoding: line, as: UTF8.self)
        for variant in [text.replacingOccurrences(of: "\"seq\":1", with: "\"seq\": 1"),
                        text.replacingOccurrences(of: "\"action\":\"officer\"", with: "\"action\":\"teleport\""),
                        text.replacingOccurrences(of: "\"officer\":\"PC-1\"", with: "\"officer\":\"PC/1\""),
                        text.replacingOccurrences(of: ",\"sig\":", with: ",\"extra\":1,\"sig\":")] {
            #expect(throws: EvidenceError.self) { try CustodyEntry.parse(Array(variant.utf8)[...]) }
        }
        // Over-long details are cut when written, never refused at write time.
        let long = CustodyEntry(seq: 1, prev: AuditTrail.genesis, utc: 0, actor: "service", action: .refused, detail: String(repeating: "é", count: 1000))
        #expect(long.detail.utf8.count <= CustodyEntry.maxDetailBytes)
        #expect(try CustodyEntry.parse(long.line(sign)[...]).entry == long)
    }
}
