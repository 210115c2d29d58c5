@testable import BodycamEvidence
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import BodycamCore

/// Every parser returns an answer for any input: no trap, no read out of bounds (issue 10). Each test
/// names the input that trapped before the fix.
struct ParserTotalityTests {
    // MARK: UTC

    @Test func utcParsesOnlyTheRepresentableRange() {
        // A year after 2262 overflowed Int64 nanoseconds and trapped the camera at boot (audit line).
        for bad in ["3026-01-01T08:00:00.000Z", "2262-04-12T00:00:00Z", "9999-12-31T23:59:59.999Z", "1969-12-31T23:59:59Z",
                    "0000-01-01T00:00:00Z", "30260101T080004.100Z"] {
            #expect(UTC.parse(bad) == nil, "\(bad)")
        }
        #expect(UTC.parseCompact("30260101T080004.100Z") == nil)
        #expect(UTC.parse("2261-12-31T23:59:59.999Z") == UTC.latest)
        #expect(UTC.parse("1970-01-01T00:00:00Z") == 0)
        #expect(UTC.parseCompact("22611231T235959.999Z") == UTC.latest)
        #expect(UTC.parseCompact("20260101T080004.100Z") == 1_767_254_404_100_000_000)
        for bad in ["2026010lT080004.100Z", "20260101T080004.1O0Z", "20260101X080004.100Z", "", "2026"] {
            #expect(UTC.parseCompact(bad) == nil, "\(bad)")
        }
    }

    @Test func utcFormatsEveryInt64WithoutTrapping() {
        for n: Int64 in [.min, .min + 1, -1, 0, 1, .max, .max - 1, -86_400_000_000_001, 2_534_023_007_999_990_000] {
            _ = UTC.civil(n)
            #expect(UTC.iso(n).utf8.count == 24)
            #expect(UTC.compact(n).utf8.count == 20)
        }
        #expect(UTC.iso(.max) == "2262-04-11T23:47:16.854Z")
        #expect(UTC.iso(.min) == "1677-09-21T00:12:43.145Z")
    }

    @Test func aYearAfter2262InTheAuditTrailDoesNotStopTheCameraBooting() throws {
        // Issue 10's reproducer: "2026" -> "3026" in the last audit line trapped every later boot (exit 132).
        let storage = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let options = ["run", "--size", "160x120", "--storage", storage]
        #expect(try TestSupport.bodycam(options, stdin: "wait 1s\nquit\n").status == 0)
        let audit = storage + "/state/audit.jsonl"
        var lines = try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[lines.count - 1] = lines[lines.count - 1].replacingOccurrences(of: "\"utc\":\"2026", with: "\"utc\":\"3026")
        #expect(lines.last?.contains("\"utc\":\"3026") == true)
        try (lines.joined(separator: "\n") + "\n").write(toFile: audit, atomically: true, encoding: .utf8)
        let boot = try TestSupport.bodycam(options, stdin: "quit\n")
        #expect(boot.status == 0, "\(boot.stderr)")
    }

    // MARK: FrameStamp

    static func stampText(seq: UInt64 = 123, src: UInt64 = 456) -> String {
        let id = Array("BWV-0001".utf8)
        return ASCIIWriter.string(capacity: FrameStamp.capacity) { w in
            id.withUnsafeBytes { FrameStamp.write(deviceID: $0, sequence: seq, sourceSequence: src,
                                                  utc: 1_767_254_404_100_000_000, mono: 4_100_000_000, to: &w) }
        }
    }

    @Test func stampCarriesTheSourceSequenceInAFixedWidthField() throws {
        let text = Self.stampText(src: 10_000_000_456)
        #expect(text == "BWV1 dev=BWV-0001 seq=0000000123 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000")
        let s = try #require(FrameStamp.parse(Array(text.utf8)))
        #expect(s == FrameStamp(deviceID: "BWV-0001", sequence: 123, sourceSequence: 456, utc: 1_767_254_404_100_000_000,
                                mono: 4_100_000_000))
    }

    @Test func stampWithTheLongestDeviceIDFitsItsBuffer() {
        let id = Array(String(repeating: "W", count: FrameStamp.maxDeviceIDLength).utf8)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FrameStamp.capacity, alignment: 1)
        defer { buffer.deallocate() }
        var w = ASCIIWriter(buffer)
        id.withUnsafeBytes { FrameStamp.write(deviceID: $0, sequence: .max, sourceSequence: .max, utc: UTC.latest, mono: .max, to: &w) }
        #expect(!w.overflowed)
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<w.count]), as: UTF8.self)
        #expect(FrameStamp.parse(Array(text.utf8))?.deviceID.utf8.count == 32)
    }

    @Test func stampParsingRejectsAnythingButTheFixedFormat() {
        let good = Self.stampText()
        #expect(FrameStamp.parse(Array(good.utf8)) != nil)
        let bad = [
            // These trapped: a huge mono overflowed s * 1e9, a 20-digit seq overflowed later arithmetic.
            "BWV1 dev=BWV-0001 seq=0000000123 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=999999999999999999999.100000000",
            "BWV1 dev=BWV-0001 seq=18446744073709551615 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000",
            "BWV1 dev=BWV-0001 seq=0000000123 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000",         // no src
            "BWV1 dev=BWV-0001 seq=123 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000",  // not 10 digits
            "BWV1 dev=BWV-0001 seq=+000000123 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000",
            "BWV1 dev=BWV-0001 seq=0000000123 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=000000004.1000000000",
            "BWV1 dev=BWV-0001 seq=0000000123 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=-00000004.100000000",
            "BWV1 dev=BWV-0001 seq=0000000123 src=0000000456 utc=3026-01-01T08:00:04.100Z mono=000000004.100000000",
            "BWV1 dev=BWV-0001 seq=0000000123 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000 x=1",
            "BWV1 dev=BWV 0001 seq=0000000123 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000",
            "BWV1 dev= seq=0000000123 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000",
            "BWV1 seq=0000000123 dev=BWV-0001 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000",
            "BWV1 dev=\(String(repeating: "a", count: 33)) seq=0000000123 src=0000000456 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000",
            "", "BWV1", "BWV1 ", "BWV1 dev=x", "JFIF something",
        ]
        for b in bad { #expect(FrameStamp.parse(Array(b.utf8)) == nil, "\(b)") }
        // Every prefix and every single-byte change of a good stamp is answered.
        let bytes = Array(good.utf8)
        for n in 0..<bytes.count { _ = FrameStamp.parse(bytes[0..<n]) }
        for i in bytes.indices {
            for v: UInt8 in [0, 0x20, 0x39, 0x3D, 0xFF] { var m = bytes; m[i] = v; _ = FrameStamp.parse(m) }
        }
    }

    // MARK: JPEG markers

    @Test func jpegMarkerHelpersAnswerAnyBytes() {
        var rng = SeededRandom(seed: 7)
        for n in 0..<600 {
            var bytes = (0..<(n % 70)).map { _ in rng.byte() }
            if n % 3 == 0, bytes.count >= 2 { bytes[0] = 0xFF; bytes[1] = 0xD8 }
            if n % 5 == 0, bytes.count >= 4 { bytes[2] = 0xFF; bytes[3] = 0xFE }
            _ = JPEGMarkers.comments(bytes)
            bytes.withUnsafeBytes { b in
                _ = JPEGMarkers.isComplete(b)
                _ = JPEGMarkers.completeLength(b)
                _ = JPEGMarkers.commentInsertionPoint(b)
                _ = JPEGMarkers.scanStart(b)
                let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
                defer { out.deallocate() }
                _ = JPEGMarkers.copyInsertingComment(b, comment: UnsafeRawBufferPointer(start: nil, count: 0), into: out)
            }
        }
        #expect(JPEGMarkers.comments([]).isEmpty && JPEGMarkers.comments([0xFF]).isEmpty)
        #expect(JPEGMarkers.comments([0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x04, 0x41]).isEmpty) // COM runs past the end
    }

    // MARK: Script lines

    @Test func scriptParserAnswersHugeNumbersAndOddBytes() {
        for line in ["wait 99999999999999999999h", "wait 99999999999999999999999999999999999999999999999999999999999999s",
                     "battery 9223372036854775808", "battery -9223372036854775809", "fault corrupt-frames 9223372036854775808",
                     "hold record 1e308s", "wait .s", "wait 0.0000000000000000000001ms", "expect", "expect =", "expect <=<=",
                     "battery %", "press \u{0}", "\u{0}\u{0}", "wait \u{FFFD}s", String(repeating: "9", count: 5000) + "h"] {
            if case .success(let c?) = ScriptParser.parse(line) {
                // Only plausible commands may come out.
                switch c {
                case .wait(let d): #expect(d <= ScriptParser.maxWait, "\(line)")
                case .battery(let p): #expect((0...100).contains(p), "\(line)")
                default: break
                }
            }
        }
        if case .failure = ScriptParser.parse("wait 99999999999999999999h") {} else { Issue.record("huge wait accepted") }
        if case .failure = ScriptParser.parse("battery 9223372036854775808") {} else { Issue.record("huge battery accepted") }
        var rng = SeededRandom(seed: 11)
        for _ in 0..<3000 {
            let bytes = (0..<rng.below(40)).map { _ in rng.below(4) == 0 ? rng.byte() : Array("wait battery hold record 0123456789hms.%#=<> \t".utf8)[rng.below(46)] }
            _ = ScriptParser.parse(String(decoding: bytes, as: UTF8.self))
        }
    }

    @Test func lineReaderSplitsAnyBytesIntoLinesWithinTheLimit() throws {
        var rng = SeededRandom(seed: 3)
        for round in 0..<40 {
            let count = round == 0 ? 0 : rng.below(6000)
            var input = (0..<count).map { _ in rng.below(8) == 0 ? UInt8(10) : rng.byte() }
            if round % 4 == 1 { input += [UInt8](repeating: 0, count: 3000) } // NULs, an over-long line
            if round % 4 == 2 { input += [0xC3, 0x28, 0xFF, 0xFE, 10, 0xE2, 0x82] } // invalid UTF-8
            let path = "/tmp/bodycam-linereader-\(getpid())-\(round)"
            let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
            try #require(fd >= 0)
            defer { close(fd); unlink(path) }
            _ = input.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            lseek(fd, 0, SEEK_SET)
            let reader = LineReader(fd: fd, maxLine: 64)
            var lines = 0, last = 0
            loop: while true {
                switch reader.next(timeout: round % 2 == 0 ? nil : 0) {
                case .line(let text, let number):
                    #expect(text.utf8.count <= 64 * 3) // replacement characters may widen bytes
                    #expect(number == last + 1); last = number; lines += 1
                case .tooLong(let number): #expect(number == last + 1); last = number; lines += 1
                case .endOfInput: break loop
                case .nothingYet: continue
                }
            }
            let newlines = input.filter { $0 == 10 }.count
            #expect(lines == newlines + (input.last.map { $0 == 10 ? 0 : 1 } ?? 0))
        }
    }

    @Test func lineReaderTakesAnyTimeout() {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let reader = LineReader(fd: fds[0])
        // A negative or enormous timeout trapped converting to poll's Int32 milliseconds.
        #expect(reader.next(timeout: .min) == .nothingYet)
        #expect(reader.next(timeout: -1) == .nothingYet)
        _ = write(fds[1], "status\n", 7)
        #expect(reader.next(timeout: .max) == .line("status", number: 1))
    }
}

/// A small deterministic generator (SplitMix64), so mutation and random-input tests repeat exactly.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
}
