import BodycamEvidence
import Hummingbird
import HummingbirdCore
import Logging

/// The HTTP server: the device and people routes on one Hummingbird application.
public enum RecordsServer {
    /// A chunk is held in memory until its signature is checked (nothing is stored for an impostor), so the
    /// connections are capped: at most 64 x 4 MiB of request bodies at once.
    public static let maxConnections = 64
    /// A connection that sends nothing for this long is closed (a stalled camera, or a slow-send attack).
    public static let idleSeconds: Int64 = 60
    /// A request's head must be complete this long after the connection was accepted or its previous answer
    /// ended, and its body then come at `minimumBodyBytesPerSecond` at least, or the connection is closed
    /// (a slow-send attack would otherwise hold every connection slot; see RequestDeadline.swift).
    public static let requestHeadSeconds: Int64 = 10
    /// The camera's own minimum sending rate (16 bytes/ms, `HTTPClient.minimumSendRate`).
    public static let minimumBodyBytesPerSecond: Int64 = 16_000

    /// Builds the application listening on `host:port` (port 0: any free port). `onListening` is called
    /// with the address and port once it accepts connections.
    public static func application(service: RecordsService, host: String, port: Int, logLevel: Logger.Level = .warning,
                                   onListening: @escaping @Sendable (String, Int) async -> Void) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        DeviceRoutes(service: service).register(on: router)
        PeopleRoutes(service: service).register(on: router)
        var logger = Logger(label: "bodycam-records")
        logger.logLevel = logLevel
        return Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [RequestDeadlineHandler()], idleTimeout: .seconds(idleSeconds))),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "bodycam-records",
                                                    availableConnectionsDelegate: MaximumAvailableConnections(maxConnections)),
            onServerRunning: { channel in
                await onListening(host, channel.localAddress?.port ?? port)
            },
            logger: logger)
    }
}
