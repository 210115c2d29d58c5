import BodycamEvidence

/// The records service: its key, catalogue, blob store and custody log, and the operations on them
/// (enrolment, assignment, ingest, administration). Independent of HTTP, so tests and the administrator's
/// commands use the same code paths the server does.
public final class RecordsService: Sendable {
    public let dataDirectory: String
    public let identity: ServiceIdentity
    public let catalogue: any Catalogue
    public let blobs: any BlobStore
    public let custody: Custody
    /// Wall-clock UTC in nanoseconds (tests move it).
    public let clock: @Sendable () -> Int64
    public let ingest: Ingest
    /// Refusals logged one by one, within a budget (the rest counted): see `RefusalBudget`.
    let refusalBudget = RefusalBudget()

    public init(dataDirectory: String, identity: ServiceIdentity, catalogue: any Catalogue, blobs: any BlobStore,
                clock: @escaping @Sendable () -> Int64 = WallClock.now) {
        self.dataDirectory = dataDirectory
        self.identity = identity
        self.catalogue = catalogue
        self.blobs = blobs
        self.clock = clock
        custody = Custody(identity: identity)
        ingest = Ingest(catalogue: catalogue, blobs: blobs, custody: custody, identity: identity, clock: clock)
    }

    /// Opens (and on first use creates) the data folder: `service.key`, and unless given others the embedded
    /// default stores, `catalogue.sqlite`, `blobs/` and `uploads/`. `catalogue` and `blobs` are opened by the
    /// caller (PostgreSQL, S3: `--catalog`, `--blobs`), and called only once the service key is loaded.
    public static func open(dataDirectory: String, catalogue: (() throws -> any Catalogue)? = nil, blobs: (() throws -> any BlobStore)? = nil,
                            clock: @escaping @Sendable () -> Int64 = WallClock.now) throws -> RecordsService {
        let identity = try ServiceIdentity.load(dataDirectory: dataDirectory, create: true)
        let openedCatalogue = try catalogue?() ?? SQLiteCatalogue(path: dataDirectory + "/" + SQLiteCatalogue.fileName)
        try checkServiceKey(openedCatalogue, identity: identity, keyPath: dataDirectory + "/" + ServiceIdentity.fileName)
        let openedBlobs = try blobs?() ?? FolderBlobStore(root: dataDirectory)
        return RecordsService(dataDirectory: dataDirectory, identity: identity, catalogue: openedCatalogue, blobs: openedBlobs, clock: clock)
    }

    /// A catalogue belongs to the service key it was first opened with. Several ingest nodes share one
    /// catalogue, and a receipt from any of them must verify on every camera: a node whose key differs
    /// refuses to start rather than sign with a key the cameras were never given.
    static func checkServiceKey(_ catalogue: any Catalogue, identity: ServiceIdentity, keyPath: String) throws {
        let mine = identity.publicKey
        // Read first: a started catalogue needs no write (the admin's commands open it alongside the server).
        let held = try catalogue.readNow { try $0.serviceKey() } ?? catalogue.writeNow { tx in
            if let first = try tx.serviceKey() { return first }
            try tx.saveServiceKey(mine)
            return mine
        }
        guard held == mine else { throw ServiceKeyMismatch(catalogueKey: held, serviceKey: mine, keyPath: keyPath) }
    }

    /// Writes a `refused` custody entry (its own transaction: the refused request changed nothing) and
    /// returns the refusal to throw. A failure to log is itself reported, never hidden.
    public func refuse(_ refusal: Refusal, deviceID: String?) async -> Refusal {
        let utc = clock()
        let budget = refusalBudget.take(utc: utc)
        guard budget.log else { return refusal }
        // The count first: a long message is cut to fit the entry, the count must not be.
        let detail = (budget.suppressed > 0
            ? "\(budget.suppressed) more refusal(s) since \(UTC.iso(budget.sinceUTC)) counted, not logged one by one; this one: " : "")
            + refusal.message
        do {
            _ = try await catalogue.write { [custody] tx in
                try custody.append(tx, utc: utc, actor: "service", action: .refused, deviceID: deviceID, detail: detail)
            }
            return refusal
        } catch {
            return Refusal(.failure, "\(refusal.message) (and the custody log could not record the refusal: \(error))")
        }
    }
}

/// This node's `service.key` is not the one its catalogue belongs to.
public struct ServiceKeyMismatch: Error, CustomStringConvertible, Sendable {
    public var catalogueKey: PublicKey
    public var serviceKey: PublicKey
    public var keyPath: String
    public var description: String {
        "this catalogue belongs to service key \(catalogueKey.fingerprint); \(keyPath) is \(serviceKey.fingerprint): "
            + "give every ingest node the same service key"
    }
}
