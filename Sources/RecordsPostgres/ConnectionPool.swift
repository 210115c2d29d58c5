import Dispatch
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// A small bounded pool of PostgreSQL connections, used from blocking threads only (a catalogue
/// transaction runs on a `Blocking.run` thread or the administrator's command thread, never on an event
/// loop, so `wait()` is legal). Connections open lazily; a broken one is closed, never handed out again.
/// Two lanes with their own bounds: transactions, and upload leases (a lease holds its connection for a
/// whole chunk or finish, so leases must never starve the transactions that request runs meanwhile).
final class ConnectionPool: Sendable {
    enum Lane: Sendable { case transaction, lease }

    let location: PostgresLocation
    private let configuration: PostgresConnection.Configuration
    private let idle = Mutex<[PostgresConnection]>([])
    private let closed = Mutex(false)
    private let transactionSlots: DispatchSemaphore
    private let leaseSlots: DispatchSemaphore
    private let sizes: (transactions: Int, leases: Int)
    /// How long a request waits for a free connection before it fails (a bounded wait, not a hang).
    let waitSeconds: Int
    private let nextID = Mutex(0)
    // postgres-nio logs nothing we want on stdout, which carries the service's JSON Lines events.
    let logger = Logger(label: "bodycam.records.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    init(location: PostgresLocation, password: String?, transactions: Int = 8, leases: Int = 64, waitSeconds: Int = 30,
         connectTimeoutSeconds: Int64 = 5) throws {
        let tls: PostgresConnection.Configuration.TLS
        if location.requireTLS {
            do { tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration())) } catch {
                throw PostgresFailure("PostgreSQL at \(location.server): TLS cannot be set up: \(error)")
            }
        } else {
            tls = .disable
        }
        var configuration = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.user,
                                                             password: password, database: location.database, tls: tls)
        configuration.options.connectTimeout = .seconds(connectTimeoutSeconds)
        self.configuration = configuration
        self.location = location
        sizes = (transactions, leases)
        transactionSlots = DispatchSemaphore(value: transactions)
        leaseSlots = DispatchSemaphore(value: leases)
        self.waitSeconds = waitSeconds
    }

    private func slots(_ lane: Lane) -> DispatchSemaphore { lane == .transaction ? transactionSlots : leaseSlots }

    /// A connection for `lane`, waiting at most `waitSeconds` for one to be free.
    func take(_ lane: Lane) throws -> PostgresConnection {
        guard !closed.withLock({ $0 }) else { throw PostgresFailure("PostgreSQL at \(location.server): the catalogue is closed") }
        guard slots(lane).wait(timeout: .now() + .seconds(waitSeconds)) == .success else {
            let size = lane == .transaction ? sizes.transactions : sizes.leases
            throw PostgresFailure("PostgreSQL at \(location.server): no free connection within \(waitSeconds) s (all \(size) \(lane == .transaction ? "transaction" : "upload lease") connections busy)")
        }
        while let connection = idle.withLock({ $0.popLast() }) {
            if !connection.isClosed { return connection }
        }
        do { return try connect() } catch {
            slots(lane).signal()
            throw error
        }
    }

    /// Gives a connection back; `broken` ones (or any closed meanwhile) are closed instead of kept.
    func give(_ connection: PostgresConnection, _ lane: Lane, broken: Bool) {
        if broken || connection.isClosed || closed.withLock({ $0 }) {
            discard(connection)
        } else {
            idle.withLock { $0.append(connection) }
        }
        slots(lane).signal()
    }

    /// A new connection, made and authenticated, or an error naming the server.
    func connect() throws -> PostgresConnection {
        let id = nextID.withLock { n in n += 1; return n }
        do {
            return try PostgresConnection.connect(on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: id,
                                                  logger: logger).wait()
        } catch {
            throw PostgresFailure.wrap(error, server: location.server, connecting: true)
        }
    }

    /// Closes the idle connections and refuses new work; connections in use close when given back.
    func close() {
        closed.withLock { $0 = true }
        dropIdle()
    }

    /// Closes the idle connections (new ones are made when needed).
    func dropIdle() {
        for connection in idle.withLock({ list in defer { list = [] }; return list }) {
            discard(connection)
        }
    }

    deinit { close() }

    /// Closes without waiting (safe from any thread): the server ends the session, and frees its advisory
    /// locks, when the socket closes. The connection is kept alive until then (postgres-nio insists).
    static func discard(_ connection: PostgresConnection) {
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    private func discard(_ connection: PostgresConnection) { Self.discard(connection) }
}
