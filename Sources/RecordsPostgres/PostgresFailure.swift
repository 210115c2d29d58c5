import BodycamRecords
import PostgresNIO

/// A PostgreSQL error said in one line naming the server. postgres-nio's own description hides everything
/// ("Generic description…"), so the server's message and SQLSTATE are taken out here. The password is
/// never part of an error.
public struct PostgresFailure: Error, CustomStringConvertible, Sendable, StoreFailure {
    public var description: String
    /// The server's SQLSTATE, if the server answered.
    public var sqlState: String?
    /// The connection is unusable (lost, never made): it is closed rather than returned to the pool.
    var isConnectionLost: Bool

    /// `53100 disk_full`: the service answers 507, as for a full blob store.
    public var isOutOfSpace: Bool { sqlState == "53100" }

    init(_ description: String, sqlState: String? = nil, isConnectionLost: Bool = false) {
        (self.description, self.sqlState, self.isConnectionLost) = (description, sqlState, isConnectionLost)
    }

    /// Wraps whatever postgres-nio threw. `connecting`: the connection was being made.
    static func wrap(_ error: any Error, server: String, connecting: Bool = false) -> PostgresFailure {
        if let failure = error as? PostgresFailure { return failure }
        guard let e = error as? PSQLError else {
            return PostgresFailure("PostgreSQL at \(server)\(connecting ? " cannot be reached" : ""): \(error)", isConnectionLost: true)
        }
        if e.code == .server, let info = e.serverInfo {
            let state = info[.sqlState]
            let message = info[.message] ?? "an error without a message"
            // A server error during connecting (authentication, no such database) leaves no usable connection,
            // nor does a session the server ended (57P01-57P04: shutdown, terminated, database dropped) or class 08.
            let ended = state.map { $0.hasPrefix("57P") || $0.hasPrefix("08") } ?? false
            return PostgresFailure("PostgreSQL at \(server): \(message) (SQLSTATE \(state ?? "?"))", sqlState: state,
                                   isConnectionLost: connecting || ended)
        }
        // What lies under it, in words: a server message (such as the FATAL of a terminated session) or a socket error.
        let underlying = e.underlying.map { inner in
            if let server = (inner as? PSQLError)?.serverInfo { return ": " + (server[.message] ?? "an error without a message") }
            return inner is PSQLError ? "" : ": \(inner)"
        } ?? ""
        switch e.code {
        case .connectionError:
            return PostgresFailure("PostgreSQL at \(server) cannot be reached\(underlying)", isConnectionLost: true)
        case .serverClosedConnection, .clientClosedConnection, .uncleanShutdown:
            return PostgresFailure("PostgreSQL at \(server): the connection was lost\(underlying)", isConnectionLost: true)
        case .authMechanismRequiresPassword:
            return PostgresFailure("PostgreSQL at \(server) asks for a password: set BODYCAM_CATALOG_PASSWORD or BODYCAM_CATALOG_PASSWORD_FILE",
                                   isConnectionLost: true)
        case .sslUnsupported:
            return PostgresFailure("PostgreSQL at \(server) does not offer TLS (the URL asks for sslmode=require)", isConnectionLost: true)
        default:
            return PostgresFailure("PostgreSQL at \(server): \(e.code)\(underlying)", isConnectionLost: true)
        }
    }
}
