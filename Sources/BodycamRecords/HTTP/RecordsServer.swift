import BodycamEvidence
import Hummingbird
import Logging

/// The HTTP server: the device and people routes on one Hummingbird application.
public enum RecordsServer {
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
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "bodycam-records"),
            onServerRunning: { channel in
                await onListening(host, channel.localAddress?.port ?? port)
            },
            logger: logger)
    }
}
