import BodycamEvidence
/// Measures what the frame path costs per frame apart from encoding, hashing and file I/O: the stamp
/// text, the ring reservation and commit under the lock, the hand-off to the writer (next pending frame)
/// and its release. `bodycam bench-path` prints it; `make bench` reports it.
public enum PathOverhead {
    public static func nanosPerFrame(frames: Int, frameBytes: Int = 30_000) -> Double {
        let ring = FrameRing(arenaBytes: 64 << 20, frameCapacity: 1024, maxAge: 30 * Nanos.perSecond)
        let lock = ConditionLock()
        let stamp = UnsafeMutableRawBufferPointer.allocate(byteCount: FrameStamp.capacity, alignment: 1)
        let id = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 1)
        defer { stamp.deallocate(); id.deallocate() }
        id.copyBytes(from: Array("BWV-0001".utf8))
        _ = ring.startRecording(owner: 1, since: 0)
        var sink = 0
        let start = MonotonicClock.raw()
        for n in 0..<frames {
            let mono = Nanos(n) * Nanos.perSecond / 30
            var w = ASCIIWriter(stamp)
            FrameStamp.write(deviceID: UnsafeRawBufferPointer(id), sequence: UInt64(n), utc: mono, mono: mono, to: &w)
            sink &+= w.count
            lock.lock()
            guard case .ok(let space) = ring.reserve(frameBytes) else { fatalError("ring full") }
            space[0] = UInt8(truncatingIfNeeded: n) // the encoder would write here
            ring.commit(length: frameBytes - (n & 7), sequence: UInt64(n), mono: mono, utc: mono)
            lock.broadcast()
            lock.unlock()
            lock.lock()
            if let (i, f) = ring.nextPending() {
                sink &+= f.length
                ring.markWritten(i)
            }
            lock.unlock()
        }
        let elapsed = MonotonicClock.raw() - start
        precondition(sink != 0)
        return Double(elapsed) / Double(frames)
    }
}
