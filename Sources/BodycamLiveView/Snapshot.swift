import BodycamCore
import BodycamEvidence
import Hummingbird
import NIOCore

/// `GET /snapshot.jpg`: one frame as the recording stores it. The tap is fed only while someone watches,
/// so a snapshot watches for a moment: it takes the next frame published, or after `waitSeconds` (the
/// camera is not capturing: asleep, docked, off) the last one there is, or answers 503 if there is none.
struct Snapshot: Sendable {
    let tap: LiveFrameTap
    let slots: ViewerSlots
    static let waitSeconds = 2

    func response(_ context: LiveViewContext) async throws -> Response {
        // Snapshots count against the viewers: each holds a frame-sized buffer.
        guard slots.take(context.channel) else {
            return LiveReply.busy("\(slots.limit) viewers are watching already; try again later", retryAfterSeconds: 5)
        }
        defer { slots.release(context.channel) }
        tap.subscribe()
        defer { tap.unsubscribe() }
        var frame = context.channel.allocator.buffer(capacity: tap.capacity)
        let before = tap.newest
        let giveUp = ContinuousClock.now + .seconds(Self.waitSeconds)
        var copied: LiveFrameTap.Copied?
        while true {
            let waiting = ContinuousClock.now < giveUp
            frame.writeWithUnsafeMutableBytes(minimumWritableBytes: tap.capacity) { space in
                copied = tap.copyNewest(after: waiting ? before : 0, into: space) // a fresh frame if one comes, else any
                return copied?.length ?? 0
            }
            if copied != nil || !waiting { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard copied != nil else {
            return LiveReply.error("no frame yet: the camera has not captured since the live view started (it may be booting, asleep, docked or off)",
                                   status: .serviceUnavailable)
        }
        var headers = HTTPFields()
        headers[.contentType] = "image/jpeg"
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: frame))
    }
}
