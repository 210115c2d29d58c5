import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

struct TimeAndStampTests {
    @Test func utcFormatsKnownInstants() {
        #expect(UTC.iso(0) == "1970-01-01T00:00:00.000Z")
        #expect(UTC.iso(951_782_400_123_000_000) == "2000-02-29T00:00:00.123Z") // leap day
        #expect(UTC.compact(1_767_254_404_100_000_000) == "20260101T080004.100Z")
        #expect(UTC.iso(-1_000_000) == "1969-12-31T23:59:59.999Z")
    }

    @Test func utcParsesWhatItWritesAndRejectsNonsense() {
        for n: Int64 in [0, 951_782_400_123_000_000, 1_767_254_404_100_000_000, 4_102_444_799_999_000_000] {
            #expect(UTC.parse(UTC.iso(n)) == n)
        }
        #expect(UTC.parse("2026-01-01T08:00:00Z") == 1_767_254_400_000_000_000)
        for bad in ["", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01 08:00:00Z", "2026-01-01T24:00:00Z",
                    "2026-01-01T08:00:00", "20260101T080000Z", "2026-01-01T08:00:00.5Z"] {
            #expect(UTC.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func durationsParseAsPeopleTypeThem() {
        #expect(DurationText.parse("250ms") == 250 * Nanos.perMillisecond)
        #expect(DurationText.parse("3s") == 3 * Nanos.perSecond)
        #expect(DurationText.parse("1.5s") == 1_500 * Nanos.perMillisecond)
        #expect(DurationText.parse("2m") == 120 * Nanos.perSecond)
        #expect(DurationText.parse("1h") == 3600 * Nanos.perSecond)
        #expect(DurationText.parse("1h30m") == 5400 * Nanos.perSecond)
        #expect(DurationText.parse("2m30s500ms") == 150_500 * Nanos.perMillisecond)
        for bad in ["", "s", "3", "-3s", "3x", "1e3s", "nans", "1.2.3s", "9999999h", "1h30", "h1", "1 h", "1hh"] {
            #expect(DurationText.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func stampRoundTripsWithFixedWidth() throws {
        let id = Array("BWV-0001".utf8)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FrameStamp.capacity, alignment: 1)
        defer { buffer.deallocate() }
        var w = ASCIIWriter(buffer)
        id.withUnsafeBytes { FrameStamp.write(deviceID: $0, sequence: 123, utc: 1_767_254_404_100_000_000,
                                              mono: 4_100_000_000, to: &w) }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<w.count]), as: UTF8.self)
        #expect(text == "BWV1 dev=BWV-0001 seq=0000000123 src=0000000123 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000")
        let parsed = try #require(FrameStamp.parse(Array(text.utf8)))
        #expect(parsed == FrameStamp(deviceID: "BWV-0001", sequence: 123, sourceSequence: 123, utc: 1_767_254_404_100_000_000,
                                     mono: 4_100_000_000))
        #expect(FrameStamp.parse(Array("JFIF something".utf8)) == nil)
    }

    @Test func stampsCarryTheOfficerWhenOneHasTheCamera() throws {
        let longest = String(repeating: "D", count: 32), officer = String(repeating: "O", count: 32)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FrameStamp.capacity, alignment: 1)
        defer { buffer.deallocate() }
        var w = ASCIIWriter(buffer)
        Array(longest.utf8).withUnsafeBytes { id in
            Array(officer.utf8).withUnsafeBytes { o in
                FrameStamp.write(deviceID: id, sequence: 9, sourceSequence: 10, utc: 0, mono: 1, officer: o, to: &w)
            }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: buffer[0..<w.count]), as: UTF8.self)
        #expect(text.hasSuffix(" off=" + officer))
        #expect(FrameStamp.parse(Array(text.utf8)) == FrameStamp(deviceID: longest, sequence: 9, sourceSequence: 10, utc: 0, mono: 1, officer: officer))
        // Anything after mono other than exactly " off=<officer id>" is not a stamp.
        let base = "BWV1 dev=BWV-0001 seq=0000000123 src=0000000123 utc=2026-01-01T08:00:04.100Z mono=000000004.100000000"
        #expect(FrameStamp.parse(Array((base + " off=PC-7").utf8))?.officer == "PC-7")
        for bad in [" off=", " off=a b", " off=" + officer + "X", " of=PC", " off=PC/1", "  off=PC", " off=PC\n"] {
            #expect(FrameStamp.parse(Array((base + bad).utf8)) == nil, "\(bad)")
        }
    }

    @Test func deviceIDsAreRestrictedToSafeCharacters() {
        #expect(FrameStamp.isValidDeviceID("BWV-0001_a"))
        for bad in ["", "has space", "x/y", String(repeating: "a", count: 33), "ünï"] {
            #expect(!FrameStamp.isValidDeviceID(bad), "\(bad)")
        }
    }

    @Test func asciiWriterNeverWritesPastItsBuffer() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4, alignment: 1)
        defer { buffer.deallocate() }
        var w = ASCIIWriter(buffer)
        w.text("abc")
        w.digits(12345, 5)
        w.byte("z")
        #expect(w.count == 4 && w.overflowed)
    }

    @Test func stampsCarryTheSourcesOwnSequenceBesideTheStoredOne() throws {
        // Damaged frames are dropped: `seq` (stored frames) stays continuous, `src` shows the 3 missing.
        let storage = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let out = try TestSupport.bodycam(["run", "--strict", "--size", "160x120", "--fps", "10", "--storage", storage],
                                          stdin: "wait 2s\ndouble record\nwait 1s\nfault corrupt-frames 3\nwait 1s\nhold record 3s\nquit\n")
        #expect(out.status == 0, "\(out.stderr)")
        let stamps = try TestSupport.stamps(TestSupport.segments(in: storage))
        try #require(stamps.count > 20)
        #expect(zip(stamps, stamps.dropFirst()).allSatisfy { $1.sequence == $0.sequence + 1 })
        let offsets = stamps.map { Int64($0.sourceSequence) - Int64($0.sequence) }
        #expect(Set(offsets) == [offsets[0], offsets[0] + 3], "\(offsets)")
    }

    @Test func inspectReportsADamagedFileInsteadOfTrapping() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var bytes = try RealRecordings.bytes(0)
        bytes[92] = 0xF0; bytes[93] = 0xFF; bytes[94] = 0xFF; bytes[95] = 0x7F // strl LIST size past the end
        let path = dir + "/bad.avi"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let out = try TestSupport.bodycam(["inspect", "--frames", path])
        #expect(out.status == 1)
        #expect(out.stderr.contains("\(path): malformed AVI: header chunk LIST at 88 runs past hdrl"), "\(out.stderr)")
        let good = try TestSupport.bodycam(["inspect", "--frames", (try RealRecordings.segments)[0]])
        #expect(good.status == 0 && good.stdout.contains("\"src\":") && good.stdout.contains("\"empty_chunks\":0"), "\(good.stdout)")
    }
}
