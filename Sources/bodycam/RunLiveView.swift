import BodycamCore
import BodycamLiveView

/// `bodycam run --http ADDRESS`: the live view's parts, made before the camera (the server binds first,
/// so a port in use stops the run before anything is recorded) and attached to it once it exists.
struct LiveViewSetup {
    let server: LiveViewServer
    let tap: LiveFrameTap
    /// Wraps the run's event sink: stdout still gets every event, the page's event streams too.
    let events: EventFanOut
    let status: LiveStatusBoard
    let control: RemoteControl

    static func start(_ address: LiveViewAddress, settings: CameraSettings, events base: EventSink) throws(LiveViewServer.StartError) -> LiveViewSetup {
        let limits = LiveViewServer.Limits()
        let tap = LiveFrameTap(capacity: settings.geometry.maxEncodedFrameBytes)
        let events = EventFanOut(base: base, maxSubscribers: limits.eventSubscribers)
        let status = LiveStatusBoard()
        let control = RemoteControl()
        let server = try LiveViewServer.start(address: address, camera: .init(tap: tap, events: events, status: status, control: control,
                                                                               fps: settings.fps, deviceID: settings.deviceID),
                                              limits: limits)
        if !address.isLoopback {
            diagnostic("warning: the live view listens on \(address.urlHost):\(server.port): anyone who can reach it can see the picture and press the camera's buttons")
        }
        return LiveViewSetup(server: server, tap: tap, events: events, status: status, control: control)
    }

    /// Feeds the tap from the camera's frame path and says where the page is (`http` event).
    func attach(to camera: CameraRuntime) {
        camera.path.liveTap = tap
        camera.emit("http", [("action", .string("listening")), ("url", .string(server.url))])
    }

    func stop() { server.stop() }
}
