import BodycamEvidence
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// The per-request read deadline (`RecordsServer.requestHeadSeconds`, `minimumBodyBytesPerSecond`): a
/// connection must deliver a complete request head within `head` of being accepted, or of the end of its
/// previous answer (keep-alive), and then the body by that deadline moved on by Content-Length at the
/// minimum rate (a chunked body moves it on by each part as it comes). A connection that misses it is
/// closed, so one that dribbles bytes (slowloris) holds its slot for a bounded time, whereas the idle
/// timeout never fires while a byte comes now and then. The clock stops while the request is handled
/// and answered: a slow disk or a long download is not the client's delay.
///
/// It sits after the HTTP decoder (Hummingbird's additional channel handlers, on `HTTPRequestPart`s),
/// not on raw bytes: the deadline is absolute, so it needs no byte-level progress, only where a request
/// starts and ends and its Content-Length, which the decoder knows and raw bytes would mean parsing
/// again (keep-alive, chunked framing); and the answer's end, which restarts the clock, is a part too.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let head: TimeAmount
    private let bytesPerSecond: Int64
    /// The most body bytes the deadline moves on for: a larger declared body (refused anyway, but drained
    /// on a kept-alive connection) gets no more time, and no absurd Content-Length overflows the clock.
    private let maxBodyBytes: Int64
    /// Body bytes the deadline of the request being read has moved on for.
    private var counted: Int64 = 0
    /// When the request being read must be in; nil while none is awaited (handled, answered).
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?
    private var timerAt = NIODeadline.distantFuture
    /// Between a request head and its end.
    private var reading = false
    /// A chunked body: the deadline moves on with each part.
    private var unknownLength = false
    /// Requests whose head came and whose answer has not ended (more than one when pipelined).
    private var unanswered = 0
    /// An answer's head went out and its end has not.
    private var answering = false
    private var expired = false

    init(head: TimeAmount = .seconds(RecordsServer.requestHeadSeconds), bytesPerSecond: Int64 = RecordsServer.minimumBodyBytesPerSecond,
         maxBodyBytes: Int = RecordsWire.maxChunkBytes) {
        self.head = head
        self.bytesPerSecond = bytesPerSecond
        self.maxBodyBytes = Int64(maxBodyBytes)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { awaitRequest(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { cancelTimer() }

    func channelActive(context: ChannelHandlerContext) {
        if deadline == nil, !expired { awaitRequest(context) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if expired { return }
        switch unwrapInboundIn(data) {
        case .head(let request):
            reading = true
            unanswered += 1
            // Pipelined behind an answer in progress, nothing was awaited: the head counts from now.
            deadline = deadline ?? NIODeadline.now() + head
            counted = 0
            if let length = request.headerFields[.contentLength].flatMap({ Int64($0) }), length >= 0 {
                allow(length)
                unknownLength = false
            } else {
                unknownLength = true
            }
            arm(context)
        case .body(let bytes):
            if unknownLength { allow(Int64(bytes.readableBytes)) }
        case .end:
            reading = false
            if unanswered == 0 { awaitRequest(context) } else { deadline = nil }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if expired {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let response):
            if response.status.kind != .informational { answering = true }
        case .body:
            break
        case .end:
            answering = false
            unanswered = max(0, unanswered - 1)
            if unanswered == 0, !reading { awaitRequest(context) }
        }
        context.write(data, promise: promise)
    }

    /// Moves the deadline on by the time to send `bytes` more at the minimum rate, up to `maxBodyBytes`.
    private func allow(_ bytes: Int64) {
        guard let d = deadline else { return }
        let more = min(bytes, maxBodyBytes - counted)
        counted += more
        deadline = d + .nanoseconds(more * 1_000_000_000 / bytesPerSecond)
    }

    /// The connection now owes a new request: its head within `head`.
    private func awaitRequest(_ context: ChannelHandlerContext) {
        deadline = NIODeadline.now() + head
        unknownLength = false
        arm(context)
    }

    /// One timer at a time, at the deadline or earlier; one that fires early (the deadline moved on)
    /// schedules itself again.
    private func arm(_ context: ChannelHandlerContext) {
        guard let deadline, timer == nil || deadline < timerAt else { return }
        timer?.cancel()
        timerAt = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            timerAt = .distantFuture
            guard let d = self.deadline else { return }
            if NIODeadline.now() < d { arm(context) } else { expire(context) }
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        timerAt = .distantFuture
    }

    /// Closes the connection. A request whose head came and whose answer has not started gets a 408
    /// first; a connection still owing a head gets none, as it may be a kept-alive one its client is
    /// just reusing, which would take the 408 for the answer to its new request instead of sending that
    /// again on a new connection (what the camera does when the service closed the connection).
    private func expire(_ context: ChannelHandlerContext) {
        if reading, !answering {
            let timeout = HTTPResponse(status: .requestTimeout, headerFields: [.connection: "close", .contentLength: "0"])
            context.write(wrapOutboundOut(.head(timeout)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        expired = true
        deadline = nil
        context.close(promise: nil)
    }
}
