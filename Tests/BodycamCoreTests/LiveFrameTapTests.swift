import Testing
@testable import BodycamCore

/// The frame tap on its own: nothing happens without a viewer, a busy slot is skipped (never waited for),
/// readers get the newest frame once, and a frame too large for the slot is counted.
struct LiveFrameTapTests {
    @Test func publishesOnlyWhileSomeoneWatches() {
        let tap = LiveFrameTap(capacity: 64)
        let frame: [UInt8] = Array(0..<10)
        frame.withUnsafeBytes { tap.offer($0, mono: 1) }
        #expect(tap.counters == .init(published: 0, skipped: 0, viewerSkipped: 0, viewers: 0))
        tap.subscribe()
        frame.withUnsafeBytes { tap.offer($0, mono: 2) }
        #expect(tap.counters.published == 1)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
        defer { buffer.deallocate() }
        let copied = tap.copyNewest(after: 0, into: buffer)
        #expect(copied == .init(number: 1, length: 10, mono: 2))
        #expect(Array(buffer[0..<10]) == frame)
        #expect(tap.copyNewest(after: 1, into: buffer) == nil, "nothing newer than what the viewer has")
        tap.unsubscribe()
        frame.withUnsafeBytes { tap.offer($0, mono: 3) }
        #expect(tap.counters.published == 1)
    }

    @Test func aBusySlotIsSkippedNotWaitedFor() {
        let tap = LiveFrameTap(capacity: 64)
        tap.subscribe()
        let frame: [UInt8] = [1, 2, 3]
        // A viewer is copying the slot: the frame path goes on at once and counts the skip.
        tap.holdingSlot {
            frame.withUnsafeBytes { tap.offer($0, mono: 1) }
        }
        #expect(tap.counters.skipped == 1)
        #expect(tap.counters.published == 0)
        frame.withUnsafeBytes { tap.offer($0, mono: 2) }
        #expect(tap.counters.published == 1)
        let tooLarge = [UInt8](repeating: 0, count: 65)
        tooLarge.withUnsafeBytes { tap.offer($0, mono: 3) }
        #expect(tap.counters.skipped == 2)
    }
}
