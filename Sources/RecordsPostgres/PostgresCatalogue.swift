import BodycamRecords

/// Opens the catalogue in PostgreSQL: `postgres://USER@HOST[:PORT]/DATABASE[?sslmode=require]`. The password
/// never comes from the command line: `BODYCAM_CATALOG_PASSWORD`, or the file `BODYCAM_CATALOG_PASSWORD_FILE` names.
public enum PostgresStore {
    public static func openCatalogue(url: String, environment: [String: String]) throws -> any Catalogue {
        throw StoreLocationError("postgres catalogue: not built yet")
    }
}
