import BodycamCore
import BodycamEvidence
import Hummingbird
import NIOCore

/// `GET /events`: server-sent events. Every event stdout gets, as the same JSON line, and `live-status`
/// lines when the status changes (at most `LiveViewServer.statusHz` a second). Each subscriber has a
/// bounded queue (`EventSubscription`): one that reads too slowly loses the oldest lines, and is told how
/// many with a `{"event":"dropped","count":N}` line before the next one.
struct EventStream: Sendable {
    let events: EventFanOut
    let status: LiveStatusBoard
    let tap: LiveFrameTap
    let slots: ViewerSlots
    let writeTimeoutSeconds: Int64

    func response(_ context: LiveViewContext) -> Response {
        let channel = context.channel
        guard slots.take(channel) else {
            return LiveReply.busy("\(slots.limit) event streams are open already, the most this camera serves; try again later",
                                  retryAfterSeconds: 5)
        }
        guard let subscription = events.subscribe() else {
            slots.release(channel)
            return LiveReply.busy("too many event streams are open; try again later", retryAfterSeconds: 5)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-store"
        let (status, tap, slots, timeout) = (status, tap, slots, writeTimeoutSeconds)
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer {
                subscription.cancel()
                slots.release(channel)
            }
            var out = channel.allocator.buffer(capacity: 1024)
            // The status as it is now, so the page is complete before anything changes.
            out.writeString("retry: 2000\n\n")
            Self.append(LiveStatusJSON.object(status.latest.status, tap: tap).serialized, to: &out)
            try await channel.bounded(seconds: timeout) { try await writer.write(out) }
            for await line in subscription.lines {
                out.clear()
                let lost = subscription.takeDropped()
                if lost > 0 { Self.append(#"{"event":"dropped","count":\#(lost)}"#, to: &out) }
                Self.append(line, to: &out)
                try await channel.bounded(seconds: timeout) { try await writer.write(out) }
                if Task.isCancelled || !channel.isActive { break }
            }
        })
    }

    /// One SSE message. Event lines are one line of JSON (no newline inside), so one `data:` field.
    static func append(_ line: String, to out: inout ByteBuffer) {
        out.writeString("data: ")
        out.writeString(line)
        out.writeString("\n\n")
    }
}

/// Sends the live status to event streams when it changes, at most `hz` times a second (one poller for
/// all subscribers; nothing is built while nobody listens).
struct StatusPoller: Sendable {
    let events: EventFanOut
    let status: LiveStatusBoard
    let tap: LiveFrameTap
    let hz: Int

    func run() async {
        var seen: UInt64 = .max
        while !Task.isCancelled {
            if events.subscriberCount > 0 {
                let (s, version) = status.latest
                if version != seen {
                    seen = version
                    events.broadcast(LiveStatusJSON.object(s, tap: tap).serialized)
                }
            }
            try? await Task.sleep(for: .milliseconds(1000 / max(1, hz)))
        }
    }
}
