import Foundation
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Thousands of seeded mutations of real recordings through every reader of them, in-process: nothing
/// may trap, and every failure is a typed error (the readers use typed throws, so the compiler holds
/// them to that). A check is one entry in `checks`; add verify/recover ones as the evidence format settles.
@Suite(.serialized)
struct MutationTests {
    /// One way of reading a (possibly damaged) segment. `path` holds the same bytes as a `.avi.part`.
    struct Check: Sendable {
        var name: String
        var run: @Sendable (_ bytes: [UInt8], _ path: String) throws -> Void
    }

    static let checks: [Check] = [
        Check(name: "AVIReader and every frame's stamp") { bytes, _ in
            guard let avi = try? AVIReader(bytes: bytes) else { return }
            #expect(avi.frames.count + avi.emptyChunks.count == avi.timelineEntries)
            for i in avi.frames.indices { _ = avi.stamp(i) }
        },
        Check(name: "AVIRepair, then the repaired file reads back") { _, path in
            let outcome: AVIRepair.Outcome
            do { outcome = try AVIRepair.finish(path: path) } catch { return } // typed: AVIRepair.Failure
            switch outcome {
            case .complete(let n), .rebuilt(let n):
                // Whatever repair keeps must be a segment our reader (and so verify) accepts.
                let avi = try AVIReader.read(path: path)
                #expect(avi.frames.count == n, "\(outcome)")
                #expect(avi.headerFrames == avi.timelineEntries && avi.indexEntries == avi.timelineEntries)
                #expect(try AVIRepair.finish(path: path) == .complete(frames: n))
            case .empty: break
            }
        },
    ]

    enum Kind: CaseIterable { case bitFlip, byteSet, truncate, chunkSize, insert, delete, headerField }

    /// Applies one seeded mutation. Chunk-size edits hit the size field of a real chunk (RIFF, LIST,
    /// '00dc', idx1), where a reader is most tempted to trust the file.
    static func mutate(_ original: [UInt8], chunkStarts: [Int], _ kind: Kind, _ rng: inout SeededRandom) -> [UInt8] {
        var b = original
        guard !b.isEmpty else { return b }
        switch kind {
        case .bitFlip:
            for _ in 0..<(1 + rng.below(3)) { b[rng.below(b.count)] ^= UInt8(1) << UInt8(rng.below(8)) }
        case .byteSet:
            b[rng.below(b.count)] = [0, 0xFF, 0x7F, 0x80, rng.byte()][rng.below(5)]
        case .truncate:
            b.removeLast(1 + rng.below(min(b.count, rng.below(2) == 0 ? 64 : b.count)))
        case .chunkSize:
            guard !chunkStarts.isEmpty else { return b }
            let at = chunkStarts[rng.below(chunkStarts.count)]
            let size: UInt32 = [0, 1, 2, 3, 4, 0xFFFF_FFFF, 0x7FFF_FFFF, UInt32(truncatingIfNeeded: rng.next()),
                                UInt32(truncatingIfNeeded: b.count), UInt32(truncatingIfNeeded: b.count - at)][rng.below(10)]
            for k in 0..<4 { b[at + 4 + k] = UInt8(truncatingIfNeeded: size >> (8 * UInt32(k))) }
        case .insert:
            let at = rng.below(b.count + 1)
            b.insert(contentsOf: (0..<(1 + rng.below(16))).map { _ in rng.byte() }, at: at)
        case .delete:
            let at = rng.below(b.count)
            b.removeSubrange(at..<min(b.count, at + 1 + rng.below(16)))
        case .headerField:
            let at = rng.below(AVILayout.headerBytes / 4) * 4
            if at + 4 <= b.count { for k in 0..<4 { b[at + k] = rng.byte() } }
        }
        return b
    }

    /// Offsets of chunk ids (RIFF, LIST, '00dc', idx1, avih, strh, strf, JUNK) in a file.
    static func chunkStarts(_ b: [UInt8]) -> [Int] {
        let ids = ["RIFF", "LIST", "00dc", "idx1", "avih", "strh", "strf", "JUNK"].map { Array($0.utf8) }
        return b.count < 8 ? [] : (0..<(b.count - 8)).filter { i in ids.contains { b[i..<(i + 4)].elementsEqual($0) } }
    }

    static func run(checkIndex: Int, mutations: Int, seed: UInt64) throws {
        let dir = TestSupport.temporaryDirectory("mutations")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let originals = try (try RealRecordings.segments).indices.map(RealRecordings.bytes)
        let starts = originals.map(chunkStarts)
        var rng = SeededRandom(seed: seed)
        let check = checks[checkIndex]
        for n in 0..<mutations {
            let kind = Kind.allCases[n % Kind.allCases.count]
            let which = rng.below(originals.count)
            let bytes = mutate(originals[which], chunkStarts: starts[which], kind, &rng)
            let path = dir + "/m\(n % 4).avi.part"
            if checkIndex > 0 { _ = FileManager.default.createFile(atPath: path, contents: Data(bytes)) }
            try check.run(bytes, path)
        }
    }

    @Test func readerSurvivesMutatedRecordings() throws {
        try Self.run(checkIndex: 0, mutations: 4000, seed: 1)
    }

    @Test func repairSurvivesMutatedRecordingsAndLeavesReadableSegments() throws {
        try Self.run(checkIndex: 1, mutations: 1500, seed: 2)
    }

    @Test func theOriginalsPassEveryCheck() throws {
        for s in try RealRecordings.segments {
            let avi = try AVIReader.read(path: s)
            #expect(avi.frames.count > 0 && avi.emptyChunks.isEmpty && avi.indexEntries == avi.frames.count)
            for i in avi.frames.indices { #expect(avi.stamp(i) != nil) }
        }
    }
}
