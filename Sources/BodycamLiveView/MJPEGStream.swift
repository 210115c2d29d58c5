import BodycamCore
import BodycamEvidence
import Hummingbird
import NIOCore

/// `GET /stream.mjpg`: the live picture as `multipart/x-mixed-replace` (what browsers, VLC, ffplay and
/// mjpg-streamer clients open), each part one JPEG with its Content-Type and Content-Length.
///
/// Each viewer sends the newest frame it has not sent yet, at most the camera's frame rate; a viewer
/// slower than the camera skips frames (counted), it never holds one up. A part whose write has not
/// completed after `writeTimeoutSeconds` (a viewer that stopped reading) closes the connection.
struct MJPEGStream: Sendable {
    static let boundary = "bodycamframe"
    static let contentType = "multipart/x-mixed-replace; boundary=\(boundary)"

    let tap: LiveFrameTap
    let fps: Int
    let slots: ViewerSlots
    let writeTimeoutSeconds: Int64

    func response(_ context: LiveViewContext) -> Response {
        let channel = context.channel
        guard slots.take(channel) else {
            return LiveReply.busy("\(slots.limit) viewers are watching already, the most this camera serves; try again later",
                                  retryAfterSeconds: 5)
        }
        var headers = HTTPFields()
        headers[.contentType] = Self.contentType
        headers[.cacheControl] = "no-store"
        let (tap, fps, slots, timeout) = (tap, fps, slots, writeTimeoutSeconds)
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            tap.subscribe()
            var sent: UInt64 = 0
            defer {
                // Whatever was published while it watched and it never sent was skipped too.
                if sent > 0 { tap.noteViewerSkipped(tap.newest &- sent) }
                tap.unsubscribe()
                slots.release(channel)
            }
            let interval = Duration.nanoseconds(Nanos.perSecond / Int64(max(1, fps)))
            let idlePoll = min(interval / 2, .milliseconds(20))
            // Reused for every part: one frame in flight per viewer (a new one only if the last is still held).
            var frame = channel.allocator.buffer(capacity: tap.capacity)
            var head = channel.allocator.buffer(capacity: 128)
            while !Task.isCancelled && channel.isActive {
                frame.clear()
                var copied: LiveFrameTap.Copied?
                frame.writeWithUnsafeMutableBytes(minimumWritableBytes: tap.capacity) { space in
                    copied = tap.copyNewest(after: sent, into: space)
                    return copied?.length ?? 0
                }
                guard let copied else {
                    try await Task.sleep(for: idlePoll)
                    continue
                }
                if sent > 0 && copied.number > sent + 1 { tap.noteViewerSkipped(copied.number - sent - 1) }
                sent = copied.number
                head.clear()
                head.writeString("--\(Self.boundary)\r\nContent-Type: image/jpeg\r\nContent-Length: \(copied.length)\r\n\r\n")
                frame.writeString("\r\n")
                let started = ContinuousClock.now
                try await channel.bounded(seconds: timeout) {
                    try await writer.write(head)
                    try await writer.write(frame)
                }
                // At most the camera's rate: a viewer never asks for frames faster than they are made.
                try await Task.sleep(until: started + interval)
            }
        })
    }
}
