import BodycamRecords
import PostgresNIO
import Synchronization

/// Opens the catalogue in PostgreSQL: `postgres://USER@HOST[:PORT]/DATABASE[?sslmode=require]`. The password
/// never comes from the command line: `BODYCAM_CATALOG_PASSWORD`, or the file `BODYCAM_CATALOG_PASSWORD_FILE` names.
public enum PostgresStore {
    public static func openCatalogue(url: String, environment: [String: String]) throws -> any Catalogue {
        try PostgresCatalogue(url: url, environment: environment)
    }
}

/// The catalogue in PostgreSQL, shared by several ingest nodes: the same behaviour as `SQLiteCatalogue`.
///
/// Writes are serialized across every node: each write transaction takes one advisory transaction lock
/// (`pg_advisory_xact_lock(writeLockKey)`) before its first read, as SQLite has one writer. The custody
/// chain needs it (`lastCustody` then `appendCustody` must see the latest line, or two nodes would chain
/// two entries to the same predecessor), and so do Ingest's read-then-insert checks. Row locks or
/// SERIALIZABLE would catch conflicts only to fail them; one lock makes them wait instead, and a write is a
/// few milliseconds. Writes run READ COMMITTED so every statement after the lock sees everything committed
/// before it (REPEATABLE READ would take its snapshot at the lock statement, before the wait ended).
/// Reads run REPEATABLE READ READ ONLY: one consistent snapshot, like a SQLite WAL reader, never waiting.
///
/// The protocol is synchronous inside a transaction: `read`/`write` run the body on a `Blocking.run`
/// thread (never an event loop or the concurrency pool), `readNow`/`writeNow` on the caller's thread;
/// each statement waits for its answer there.
public final class PostgresCatalogue: Catalogue {
    /// Every write transaction on every node takes this lock ("bdcam_wr").
    static let writeLockKey: Int64 = 0x6264_6361_6d5f_7772
    let pool: ConnectionPool

    public convenience init(url: String, environment: [String: String]) throws {
        let location = try PostgresLocation.parse(url)
        try self.init(location: location, password: try CataloguePassword.resolve(environment))
    }

    /// `migrations`: how many to apply (all, but for the tests of a migration itself).
    init(location: PostgresLocation, password: String?, waitSeconds: Int = 30, migrations: Int = PostgresSchema.migrations.count) throws {
        pool = try ConnectionPool(location: location, password: password, waitSeconds: waitSeconds)
        // The first connection is made now: an unreachable server or a wrong password is said at start.
        try PostgresSchema.migrate(upTo: migrations) { body in
            try transaction(begin: "BEGIN ISOLATION LEVEL READ COMMITTED") { tx in try body(tx.session) }
        }
    }

    /// Closes the connections: the catalogue is not used again.
    public func close() { pool.close() }

    /// Runs `body` in one transaction on one pooled connection: COMMIT if it returns, ROLLBACK if anything
    /// throws. A connection found dead at BEGIN (the server restarted or ended it) is replaced, and the idle
    /// ones, which most likely met the same end, are dropped too; nothing had run, so trying again is safe.
    private func transaction<T>(begin: String, lock: Bool = false, _ body: (PostgresTransaction) throws -> T) throws -> T {
        var retries = 2
        while true {
            let connection = try pool.take(.transaction)
            let session = PostgresSession(connection: connection, server: pool.location.server, logger: pool.logger)
            do { try session.execute(begin) } catch let failure as PostgresFailure where failure.isConnectionLost && retries > 0 {
                pool.give(connection, .transaction, broken: true)
                pool.dropIdle()
                retries -= 1
                continue
            } catch {
                pool.give(connection, .transaction, broken: true)
                throw error
            }
            do {
                if lock { try session.execute("SELECT pg_advisory_xact_lock(\(Self.writeLockKey))") }
                let result = try body(PostgresTransaction(session: session))
                // A COMMIT whose answer is lost leaves its outcome unknown: the error is reported, as SQLite's would be.
                try session.execute("COMMIT")
                pool.give(connection, .transaction, broken: false)
                return result
            } catch {
                let rolledBack = (try? session.execute("ROLLBACK")) != nil
                pool.give(connection, .transaction, broken: !rolledBack)
                throw error
            }
        }
    }

    private func readTransaction<T>(_ body: (any CatalogueTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { try body($0) }
    }

    private func writeTransaction<T>(_ body: (any CatalogueTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL READ COMMITTED", lock: true) { try body($0) }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any CatalogueTransaction) throws -> T) async throws -> T {
        try await Blocking.run { [self] in try readTransaction(body) }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any CatalogueTransaction) throws -> T) async throws -> T {
        try await Blocking.run { [self] in try writeTransaction(body) }
    }

    public func readNow<T>(_ body: (any CatalogueTransaction) throws -> T) throws -> T { try readTransaction(body) }

    public func writeNow<T>(_ body: (any CatalogueTransaction) throws -> T) throws -> T { try writeTransaction(body) }

    /// A session-level advisory lock on the name's 64-bit hash, held on a connection of its own for the
    /// lease: only the holder can release it, and if the node dies its connections drop and PostgreSQL
    /// frees the lock by itself, so a crashed node never blocks an upload for good.
    public func tryLockUpload(_ key: String) async throws -> (any UploadLease)? {
        let pool = self.pool
        return try await Blocking.run { () throws -> PostgresUploadLease? in
            var retries = 2
            while true {
                let connection = try pool.take(.lease)
                let session = PostgresSession(connection: connection, server: pool.location.server, logger: pool.logger)
                do {
                    guard let row = try session.rows("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked", [.text(key)]).first,
                          try row.bool("locked") else {
                        pool.give(connection, .lease, broken: false)
                        return nil
                    }
                    return PostgresUploadLease(pool: pool, session: session, key: key)
                } catch let failure as PostgresFailure where failure.isConnectionLost && retries > 0 {
                    // As at a transaction's BEGIN: a dead idle connection is replaced (a lost lock statement held nothing).
                    pool.give(connection, .lease, broken: true)
                    pool.dropIdle()
                    retries -= 1
                } catch {
                    pool.give(connection, .lease, broken: true)
                    throw error
                }
            }
        }
    }
}

/// One upload name held by this node: `release` unlocks it and gives the connection back. If the unlock
/// fails the connection is closed instead, which makes the server drop the lock.
final class PostgresUploadLease: UploadLease {
    private let pool: ConnectionPool
    private let session: PostgresSession
    private let key: String
    private let released = Mutex(false)

    init(pool: ConnectionPool, session: PostgresSession, key: String) { (self.pool, self.session, self.key) = (pool, session, key) }

    /// A lease dropped without `release`: its connection is closed, which frees the lock.
    deinit {
        if !released.withLock({ $0 }) { ConnectionPool.discard(session.connection) }
    }

    func release() async {
        // Once only: giving the connection back twice would hand it to two users.
        guard released.withLock({ done in defer { done = true }; return !done }) else { return }
        let (pool, session, key) = (self.pool, self.session, self.key)
        _ = try? await Blocking.run { () throws in
            let unlocked = (try? session.rows("SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS unlocked", [.text(key)]).first?.bool("unlocked")) == true
            pool.give(session.connection, .lease, broken: !unlocked)
        }
    }
}
