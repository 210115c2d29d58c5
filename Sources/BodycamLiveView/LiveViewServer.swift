import BodycamCore
import BodycamEvidence
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// The camera's live view and control page (`bodycam run --http`), on the records service's stack
/// (Hummingbird 2 on SwiftNIO): the page, the MJPEG stream, a snapshot, server-sent events and the
/// control route. It binds before the camera starts, so a port in use stops the run before anything is
/// recorded. Its tasks run on Swift's shared pool: a task executor of its own deadlocked the teardown (ServerTeardownTests).
public final class LiveViewServer: Sendable {
    /// What the server shows and drives.
    public struct Camera: Sendable {
        public var tap: LiveFrameTap
        public var events: EventFanOut
        public var status: LiveStatusBoard
        public var control: RemoteControl
        public var fps: Int
        public var deviceID: String
        public init(tap: LiveFrameTap, events: EventFanOut, status: LiveStatusBoard, control: RemoteControl, fps: Int, deviceID: String) {
            (self.tap, self.events, self.status, self.control, self.fps, self.deviceID) = (tap, events, status, control, fps, deviceID)
        }
    }

    public struct Limits: Sendable {
        /// MJPEG viewers at once (each holds a frame-sized buffer); the next gets 503.
        public var streamViewers = 4
        /// Snapshots being taken at once.
        public var snapshots = 4
        /// Event streams at once (`EventFanOut.maxSubscribers` must allow as many).
        public var eventSubscribers = 8
        /// A control request's body.
        public var controlBodyBytes = 256
        /// Connections at once: the streams above and a few for the page's requests.
        public var connections = 32
        /// A request head must be in this long after the connection opened or its last answer ended, and
        /// a control body this long after its head; a viewer's write must complete within it.
        public var deadlineSeconds: Int64 = 10
        public init() {}
    }

    /// Live status lines on the event stream, at most this many a second.
    public static let statusHz = 5

    public let address: LiveViewAddress
    /// The port bound (the one asked for, or the one picked for port 0).
    public let port: Int
    /// The page's address; on a wildcard address, this machine's own (a browser here can open it).
    public var url: String {
        let host = address.host == "0.0.0.0" ? "127.0.0.1" : address.host == "::" ? "[::1]" : address.urlHost
        return "http://\(host):\(port)/"
    }

    private let streams: ViewerSlots
    private let snapshots: ViewerSlots
    private let eventStreams: ViewerSlots
    private let events: EventFanOut
    private let task: Task<Void, Never>
    /// Set when the server's task has ended.
    private let finished: OneShot<Void>

    private init(address: LiveViewAddress, port: Int, streams: ViewerSlots, snapshots: ViewerSlots, eventStreams: ViewerSlots,
                 events: EventFanOut, task: Task<Void, Never>, finished: OneShot<Void>) {
        (self.address, self.port, self.streams, self.snapshots, self.eventStreams) = (address, port, streams, snapshots, eventStreams)
        (self.events, self.task, self.finished) = (events, task, finished)
    }

    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Binds and starts serving; returns once it accepts connections, or throws (the port in use, say).
    /// - executor: where the server's tasks run; nil (`bodycam run`) for Swift's shared pool. In-process tests
    ///   pass threads of their own, as their synchronous tests block the shared pool.
    public static func start(address: LiveViewAddress, camera: Camera, limits: Limits = Limits(),
                             executor: (any TaskExecutor)? = nil) throws(StartError) -> LiveViewServer {
        let streams = ViewerSlots(limit: limits.streamViewers)
        let snapshots = ViewerSlots(limit: limits.snapshots)
        let eventStreams = ViewerSlots(limit: limits.eventSubscribers)
        let router = Router(context: LiveViewContext.self)
        let boundPort = BoundPort(address.port)
        router.add(middleware: RequestGuard(address: address, port: boundPort))
        Self.routes(router, camera: camera, limits: limits, streams: streams, snapshots: snapshots, eventStreams: eventStreams)

        var logger = Logger(label: "bodycam-live")
        logger.logLevel = .critical
        let bound = OneShot<Result<Int, any Error>>()
        let app = Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(limits.deadlineSeconds))),
            configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port), serverName: "bodycam",
                                                    availableConnectionsDelegate: MaximumAvailableConnections(limits.connections)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                boundPort.set(port)
                bound.set(.success(port))
            },
            logger: logger)
        let finished = OneShot<Void>()
        let poller = StatusPoller(events: camera.events, status: camera.status, tap: camera.tap, hz: statusHz)
        @Sendable func serve() async {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await poller.run() }
                do { try await app.runService(gracefulShutdownSignals: []) } catch { bound.set(.failure(error)) }
                group.cancelAll()
            }
            bound.set(.failure(StartError(description: "the server stopped")))
            finished.set(())
        }
        let task = executor.map { e in Task(executorPreference: e) { await serve() } } ?? Task.detached { await serve() }
        switch bound.wait() {
        case .failure(let error):
            task.cancel()
            throw StartError(description: "cannot listen on \(address): \(Self.describe(error))")
        case .success(let port):
            return LiveViewServer(address: address, port: port, streams: streams, snapshots: snapshots,
                                  eventStreams: eventStreams, events: camera.events, task: task, finished: finished)
        }
    }

    /// Stops serving: every viewer and event stream is closed at once (none can hold the exit up), then
    /// the server; waits up to `timeoutSeconds` for it to be gone.
    public func stop(timeoutSeconds: Int64 = 5) {
        streams.closeAll()
        snapshots.closeAll()
        eventStreams.closeAll()
        events.finishAll()
        task.cancel()
        _ = finished.wait(timeout: timeoutSeconds * Nanos.perSecond)
    }

    private static func routes(_ router: Router<LiveViewContext>, camera: Camera, limits: Limits, streams: ViewerSlots,
                               snapshots: ViewerSlots, eventStreams: ViewerSlots) {
        let page = LivePage.html(deviceID: camera.deviceID)
        let mjpeg = MJPEGStream(tap: camera.tap, fps: camera.fps, slots: streams, writeTimeoutSeconds: limits.deadlineSeconds)
        let snapshot = Snapshot(tap: camera.tap, slots: snapshots)
        let sse = EventStream(events: camera.events, status: camera.status, tap: camera.tap, slots: eventStreams,
                              writeTimeoutSeconds: limits.deadlineSeconds)
        let control = ControlRoute(control: camera.control, maxBodyBytes: limits.controlBodyBytes, bodySeconds: limits.deadlineSeconds)
        let (status, tap) = (camera.status, camera.tap)
        router.get("/") { _, _ in LiveReply.bytes(Array(page.utf8), type: "text/html; charset=utf-8") }
        router.get("/stream.mjpg") { _, context in mjpeg.response(context) }
        router.get("/snapshot.jpg") { _, context in try await snapshot.response(context) }
        router.get("/events") { _, context in sse.response(context) }
        router.get("/status.json") { _, _ in LiveReply.json(LiveStatusJSON.object(status.latest.status, tap: tap)) }
        router.post("/control") { request, context in try await control.response(request, context) }
    }

    private static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("Address already in use") || text.contains("EADDRINUSE") { return "the address is already in use" }
        if text.contains("Cannot assign requested address") { return "no such address on this machine" }
        if text.contains("Permission denied") { return "permission denied (ports below 1024 need privileges)" }
        return text
    }
}

/// A value set once by one thread and waited for by another.
final class OneShot<Value>: @unchecked Sendable { // guarded by `lock`
    private let lock = ConditionLock()
    private let set = Condition()
    private var value: Value?

    /// The first value set wins; later ones are ignored.
    func set(_ v: Value) {
        lock.withLock {
            guard value == nil else { return }
            value = v
            lock.broadcast(set)
        }
    }

    func wait() -> Value {
        lock.withLock {
            while value == nil { lock.wait(set) }
            return value!
        }
    }

    /// Nil if nothing was set within `timeout`.
    func wait(timeout: Nanos) -> Value? {
        let clock = MonotonicClock()
        return lock.withLock {
            while value == nil {
                let left = timeout - clock.now
                if left <= 0 { break }
                lock.wait(set, timeout: left)
            }
            return value
        }
    }
}

/// The port bound, known once listening (port 0 picks one); the Host check reads it on every request.
final class BoundPort: Sendable {
    private let port = Atomic<Int>(0)
    init(_ p: Int) { port.store(p, ordering: .relaxed) }
    func set(_ p: Int) { port.store(p, ordering: .releasing) }
    var value: Int { port.load(ordering: .acquiring) }
}
