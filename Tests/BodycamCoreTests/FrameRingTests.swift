import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// The ring checks its own structure (`checkInvariants`) after every mutation in debug builds, which is
/// how these tests run; the tests add the behavioural properties on top.
struct FrameRingTests {
    static let second = Nanos.perSecond

    /// Appends a frame whose bytes all equal `seq % 251`, so contents can be checked after wraps.
    @discardableResult
    static func append(_ ring: FrameRing, size: Int, seq: UInt64, mono: Nanos) -> Bool {
        guard case .ok(let space) = ring.reserve(size) else { return false }
        for i in 0..<size { space[i] = UInt8(seq % 251) }
        ring.commit(length: size, sequence: seq, mono: mono, utc: mono)
        return true
    }

    static func heldSequences(_ ring: FrameRing) -> [UInt64] {
        (ring.tail..<ring.head).map { ring.frame(at: $0).sequence }
    }

    static func contentsIntact(_ ring: FrameRing) -> Bool {
        (ring.tail..<ring.head).allSatisfy { i in
            let f = ring.frame(at: i)
            return ring.bytes(of: f).allSatisfy { $0 == UInt8(f.sequence % 251) }
        }
    }

    @Test func everySmallCapacityAndWrapPositionKeepsANewestSuffixIntact() {
        let sizes = [1, 2, 3, 5, 8]
        var scenarios = 0
        for arena in 5...13 {
            for capacity in 1...4 {
                for code in 0..<(sizes.count * sizes.count * sizes.count * sizes.count * sizes.count) {
                    let ring = FrameRing(arenaBytes: arena, frameCapacity: capacity, maxAge: 1_000 * Self.second)
                    var c = code
                    var seq: UInt64 = 0
                    var storedSeqs: [UInt64] = []
                    for _ in 0..<5 {
                        let size = sizes[c % sizes.count]
                        c /= sizes.count
                        let stored = Self.append(ring, size: size, seq: seq, mono: Nanos(seq))
                        #expect(stored == (size <= arena), "arena \(arena) cap \(capacity) size \(size)")
                        if stored { storedSeqs.append(seq) } else { ring.countDrop(.tooLarge) }
                        let held = Self.heldSequences(ring)
                        // Oldest-first eviction: what is held is always the newest stored frames, in order.
                        if stored { #expect(held.last == seq) }
                        #expect(held == Array(storedSeqs.suffix(held.count)))
                        #expect(ring.count <= capacity && ring.bytesHeld <= arena)
                        #expect(Self.contentsIntact(ring))
                        seq += 1
                    }
                    scenarios += 1
                }
            }
        }
        #expect(scenarios == 9 * 4 * 3125)
    }

    @Test func ageBoundKeepsExactlyThePreRecordWindow() {
        // 30 fps, 30 s: 900 frames cover the window; the 901st pushes the oldest out.
        let ring = FrameRing(arenaBytes: 1 << 20, frameCapacity: 1000, maxAge: 30 * Self.second)
        for n in 0..<1200 {
            Self.append(ring, size: 100, seq: UInt64(n), mono: Nanos(n) * Self.second / 30)
        }
        #expect(ring.count == 900)
        #expect(ring.frame(at: ring.tail).sequence == 300)
        #expect(ring.counters.evictedByAge == 300)
        #expect(ring.counters.evictedForSpace == 0)
    }

    @Test func byteBoundEvictsOldestFramesAndCountsThem() {
        let ring = FrameRing(arenaBytes: 1000, frameCapacity: 100, maxAge: 60 * Self.second)
        for n in 0..<50 { Self.append(ring, size: 90, seq: UInt64(n), mono: Nanos(n) * Self.second) }
        #expect(ring.bytesHeld <= 1000)
        #expect(ring.count == 11) // 11 x 90 = 990 bytes; a 12th needs the space of the oldest
        #expect(Self.heldSequences(ring) == Array(39..<50))
        #expect(ring.counters.evictedForSpace == 39)
        #expect(Self.contentsIntact(ring))
    }

    @Test func frameLargerThanTheArenaIsRefusedAndCounted() {
        let ring = FrameRing(arenaBytes: 100, frameCapacity: 4, maxAge: Self.second)
        Self.append(ring, size: 10, seq: 0, mono: 0)
        let r = ring.reserve(101)
        guard case .tooLarge = r else { Issue.record("expected tooLarge"); return }
        ring.countDrop(r)
        #expect(ring.counters.droppedTooLarge == 1)
        #expect(Self.heldSequences(ring) == [0]) // nothing evicted for a frame that can never fit
    }

    @Test func zeroPreRecordKeepsNothingWhenNotRecording() {
        let ring = FrameRing(arenaBytes: 100, frameCapacity: 4, maxAge: 0)
        Self.append(ring, size: 10, seq: 0, mono: 0)
        #expect(ring.isEmpty)
    }

    @Test func recordingTakesThePreRecordWindowAndPendingFramesAreNeverEvicted() {
        let ring = FrameRing(arenaBytes: 1000, frameCapacity: 100, maxAge: 3 * Self.second)
        for n in 0..<10 { Self.append(ring, size: 50, seq: UInt64(n), mono: Nanos(n) * Self.second) }
        // Held: 7, 8, 9 (age bound 3 s). Press at t=10: window starts at 7.
        let taken = ring.startRecording(owner: 1, since: 7 * Self.second)
        #expect(taken.frames == 3 && taken.firstMono == 7 * Self.second)
        // Frames keep coming; none may be evicted until written: 1000 / 50 = 20 frames fit.
        var n: UInt64 = 10
        while Self.append(ring, size: 50, seq: n, mono: Nanos(n) * Self.second) { n += 1 }
        #expect(n == 27) // 3 pre-record + 17 new = 20 frames
        let r = ring.reserve(50)
        guard case .full = r else { Issue.record("expected full"); return }
        ring.countDrop(r)
        #expect(ring.counters.droppedFull == 1)
        #expect(Self.heldSequences(ring) == Array(7..<27))

        // The writer drains in order and space comes back.
        var written: [UInt64] = []
        while let (i, f) = ring.nextPending() {
            #expect(ring.bytes(of: f).allSatisfy { $0 == UInt8(f.sequence % 251) })
            written.append(f.sequence)
            ring.markWritten(i)
        }
        #expect(written == Array(7..<27))
        #expect(ring.isEmpty)
        #expect(Self.append(ring, size: 50, seq: 27, mono: 27 * Self.second))
    }

    @Test func framesAfterStopStayAsPreRecordAndOnlyUnrecordedOnesJoinTheNextRecording() {
        let ring = FrameRing(arenaBytes: 10_000, frameCapacity: 100, maxAge: 5 * Self.second)
        var seq: UInt64 = 0
        func tick(_ count: Int) { for _ in 0..<count { Self.append(ring, size: 10, seq: seq, mono: Nanos(seq) * Self.second); seq += 1 } }
        tick(10)                                           // 0...9, held 5...9
        ring.startRecording(owner: 1, since: 5 * Self.second)
        tick(5)                                            // 10...14 recorded
        let stop1 = ring.stopRecording()
        tick(3)                                            // 15...17 pre-record again
        // Second recording 1 s later, window reaching back over recording 1's frames: it takes 15...17 only.
        let taken = ring.startRecording(owner: 2, since: Nanos(seq) * Self.second - 5 * Self.second)
        #expect(taken.frames == 3 && taken.firstMono == 15 * Self.second)
        tick(2)                                            // 18, 19
        _ = ring.stopRecording()
        var byOwner: [UInt32: [UInt64]] = [:]
        while let (i, f) = ring.nextPending() {
            byOwner[f.owner, default: []].append(f.sequence)
            ring.markWritten(i)
        }
        #expect(stop1 == 15)
        #expect(byOwner[1] == Array(5...14))
        #expect(byOwner[2] == Array(15...19))
    }

    @Test func oldPreRecordFramesBeforeARecordingAreSkippedByTheWriter() {
        let ring = FrameRing(arenaBytes: 10_000, frameCapacity: 100, maxAge: 10 * Self.second)
        for n in 0..<10 { Self.append(ring, size: 10, seq: UInt64(n), mono: Nanos(n) * Self.second) }
        // A short window: frames 0...6 stay pre-record only and must not block the writer.
        ring.startRecording(owner: 1, since: 7 * Self.second)
        var written: [UInt64] = []
        while let (i, f) = ring.nextPending() { written.append(f.sequence); ring.markWritten(i) }
        #expect(written == [7, 8, 9])
        #expect(ring.isEmpty) // skipped frames can never be recorded, so they are released too
    }
}
