import BodycamEvidence
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL

/// The HTTP server: the device and people routes on one Hummingbird application.
public enum RecordsServer {
    /// A chunk is held in memory until its signature is checked (nothing is stored for an impostor), so the
    /// connections are capped: at most 64 x 4 MiB of request bodies at once.
    public static let maxConnections = 64
    /// A connection that sends nothing for this long is closed: the backstop behind `requestHeadSeconds`
    /// (a response being written to a client that stopped reading, say).
    public static let idleSeconds: Int64 = 60
    /// A request's head must be complete this long after the connection was accepted or its previous answer
    /// ended, and its body then come at `minimumBodyBytesPerSecond` at least, or the connection is closed
    /// (a slow-send attack would otherwise hold every connection slot; see RequestDeadline.swift).
    public static let requestHeadSeconds: Int64 = 10
    /// The camera's own minimum sending rate (16 bytes/ms, `HTTPClient.minimumSendRate`).
    public static let minimumBodyBytesPerSecond: Int64 = 16_000

    /// Builds the application listening on `host:port` (port 0: any free port), over TLS when `tls` is
    /// given. `onListening` is called with the address and port once it accepts connections.
    public static func application(service: RecordsService, host: String, port: Int, tls: TLSFiles? = nil, logLevel: Logger.Level = .warning,
                                   onListening: @escaping @Sendable (String, Int) async -> Void) throws -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        DeviceRoutes(service: service).register(on: router)
        PeopleRoutes(service: service).register(on: router)
        AdminRoutes(service: service).register(on: router)
        var logger = Logger(label: "bodycam-records")
        logger.logLevel = logLevel
        let http1 = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [RequestDeadlineHandler()],
                                                                 idleTimeout: .seconds(idleSeconds)))
        return Application(
            router: router,
            server: try tls.map { try .tls(http1, tlsConfiguration: $0.configuration()) } ?? http1,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "bodycam-records",
                                                    availableConnectionsDelegate: MaximumAvailableConnections(maxConnections)),
            onServerRunning: { channel in
                await onListening(host, channel.localAddress?.port ?? port)
            },
            logger: logger)
    }
}

/// The service's TLS certificate chain and private key, PEM files (`serve --tls-cert --tls-key`).
public struct TLSFiles: Sendable {
    public var certificateChain: String
    public var privateKey: String
    public init(certificateChain: String, privateKey: String) { (self.certificateChain, self.privateKey) = (certificateChain, privateKey) }

    /// TLS 1.2 or later; the files are read now, so a missing or damaged one stops the service at start-up.
    func configuration() throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateChain)
        guard !chain.isEmpty else { throw EvidenceError("\(certificateChain): no certificate in the file") }
        var c = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                         privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem)))
        c.minimumTLSVersion = .tlsv12
        return c
    }
}
