import BodycamRecords
import Dispatch
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// A value bound to a statement's `$n`.
enum SQLValue {
    case text(String?)
    case int(Int64?)
    case bytes([UInt8]?)

    static func integer(_ v: Int) -> SQLValue { .int(Int64(v)) }
}

/// Statements run synchronously on one connection (off the event loop: see `ConnectionPool`), with every
/// error turned into a `PostgresFailure` naming the server.
struct PostgresSession: Sendable {
    let connection: PostgresConnection
    let server: String
    let logger: Logger

    @discardableResult
    func rows(_ sql: String, _ values: [SQLValue] = []) throws -> [PostgresRandomAccessRow] {
        var binds = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .text(let s?): binds.append(s)
            case .int(let i?): binds.append(i)
            case .bytes(let b?): binds.append(ByteBuffer(bytes: b))
            case .text(nil), .int(nil), .bytes(nil): binds.appendNull()
            }
        }
        // postgres-nio never answers a query sent on a connection the server has ended (seen with
        // pg_terminate_backend): check first, and never wait without bound.
        guard !connection.isClosed else { throw PostgresFailure("PostgreSQL at \(server): the connection was lost", isConnectionLost: true) }
        let answer = Mutex<Result<PostgresQueryResult, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).whenComplete { result in
            answer.withLock { $0 = result }
            done.signal()
        }
        guard done.wait(timeout: .now() + .seconds(Self.answerSeconds)) == .success, let result = answer.withLock({ $0 }) else {
            ConnectionPool.discard(connection)
            throw PostgresFailure("PostgreSQL at \(server): no answer within \(Self.answerSeconds) s; the connection was closed", isConnectionLost: true)
        }
        do { return try result.get().rows.map { $0.makeRandomAccess() } } catch { throw PostgresFailure.wrap(error, server: server) }
    }

    /// The longest a statement may take, waiting for the write lock included: writes are milliseconds, so
    /// this is only ever reached by a server or network that stopped answering.
    static let answerSeconds = 60

    func execute(_ sql: String, _ values: [SQLValue] = []) throws { try rows(sql, values) }
}

/// Reading columns: a missing column, a NULL where a value must be, or a value of another type is
/// `CatalogueDamage`, never a trap (postgres-nio's subscript by an unknown name would trap).
extension PostgresRandomAccessRow {
    private func cell(_ column: String) throws -> PostgresCell {
        guard contains(column) else { throw CatalogueDamage(description: "catalogue: column \(column) missing") }
        return self[column]
    }

    private func optional<T: PostgresDecodable>(_ column: String, _ type: T.Type) throws -> T? where T._DecodableType == T {
        do { return try cell(column).decode(T?.self) } catch let damage as CatalogueDamage { throw damage } catch {
            throw CatalogueDamage(description: "catalogue: column \(column) unreadable")
        }
    }

    func text(_ column: String) throws -> String {
        guard let v = try optional(column, String.self) else { throw CatalogueDamage(description: "catalogue: \(column) missing") }
        return v
    }
    func optionalText(_ column: String) throws -> String? { try optional(column, String.self) }

    func int(_ column: String) throws -> Int64 {
        guard let v = try optional(column, Int64.self) else { throw CatalogueDamage(description: "catalogue: \(column) missing") }
        return v
    }
    func optionalInt(_ column: String) throws -> Int64? { try optional(column, Int64.self) }

    /// An integer the app holds as `Int`: out of its range is damage (never on 64-bit Linux, but said).
    func count(_ column: String) throws -> Int {
        let v = try int(column)
        guard let i = Int(exactly: v) else { throw CatalogueDamage(description: "catalogue: \(column) out of range") }
        return i
    }

    func blob(_ column: String) throws -> [UInt8] {
        guard let v = try optional(column, ByteBuffer.self) else { throw CatalogueDamage(description: "catalogue: \(column) missing") }
        return Array(v.readableBytesView)
    }

    func bool(_ column: String) throws -> Bool {
        guard let v = try optional(column, Bool.self) else { throw CatalogueDamage(description: "catalogue: \(column) missing") }
        return v
    }
}
