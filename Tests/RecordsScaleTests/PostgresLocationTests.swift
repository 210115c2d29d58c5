import BodycamRecords
import Foundation
import Testing
@testable import RecordsPostgres

/// The catalogue URL and password: parsed totally (hostile input is a clear error, never a trap), a
/// password in the URL refused without being repeated, and an unreachable server said quickly.
/// No server needed: these always run.
@Suite struct PostgresLocationTests {
    @Test func goodURLsParse() throws {
        let a = try PostgresLocation.parse("postgres://bodycam@127.0.0.1:55432/bodycam")
        #expect(a == PostgresLocation(user: "bodycam", host: "127.0.0.1", port: 55432, database: "bodycam", requireTLS: false))
        let b = try PostgresLocation.parse("postgresql://records_node-1@db.force.example/catalogue?sslmode=disable")
        #expect(b == PostgresLocation(user: "records_node-1", host: "db.force.example", port: 5432, database: "catalogue", requireTLS: false))
        // Off loopback TLS is the default; on loopback it can be asked for.
        #expect(try PostgresLocation.parse("postgres://u@db.example/d").requireTLS)
        #expect(try PostgresLocation.parse("postgres://u@localhost/d?sslmode=require").requireTLS)
        let v6 = try PostgresLocation.parse("postgres://u@[::1]:6000/d")
        #expect(v6.host == "::1" && v6.port == 6000 && !v6.requireTLS && v6.server == "[::1]:6000")
        #expect(try PostgresLocation.parse(a.url) == a)
    }

    @Test func aPasswordInTheURLIsRefusedAndNeverRepeated() {
        for url in ["postgres://bodycam:s3cret-pw@127.0.0.1:5432/bodycam", "postgres://bodycam:@h/d", "postgresql://a:s3cret-pw@[::1]/d?sslmode=require", "postgres://u:s3cret/pw@h/d"] {
            let error = #expect(throws: StoreLocationError.self) { try PostgresCatalogue(url: url, environment: [:]) }
            let text = error?.description ?? ""
            #expect(!text.contains("s3cret") && text.contains("BODYCAM_CATALOG_PASSWORD"), "\(text)")
        }
    }

    @Test func hostileURLsAreClearErrors() {
        let bad = ["", "postgres://", "postgres:/u@h/d", "mysql://u@h/d", "postgres://h/d", "postgres://u@h", "postgres://u@/d",
                   "postgres://u@h:/d", "postgres://u@h:0/d", "postgres://u@h:65536/d", "postgres://u@h:99999999999999999999/d",
                   "postgres://u@h:-1/d", "postgres://u@h:5432x/d", "postgres://u@::1/d", "postgres://u@[::1/d", "postgres://u@[]/d",
                   "postgres://u@[::1]x/d", "postgres://u@h/", "postgres://u@h/d/e", "postgres://u@h/d?sslmode=verify-full", "postgres://u@h/d?password=s3cret",
                   "postgres://u@h/d?", "postgres://u@h/d?sslmode=disable&x=1", "postgres://@h/d", "postgres://u u@h/d",
                   "postgres://u@h o/d", "postgres://u@h/d;drop", "postgres://u@h/\u{0}", "postgres://ü@h/d",
                   "postgres://" + String(repeating: "u", count: 64) + "@h/d", "postgres://u@h/" + String(repeating: "d", count: 2000),
                   "postgres://u@" + String(repeating: "h", count: 254) + "/d", "postgres://u@h\n/d"]
        for url in bad {
            #expect(throws: StoreLocationError.self, "\(url.prefix(60))") { try PostgresLocation.parse(url) }
        }
    }

    @Test func thePasswordComesFromTheEnvironmentOrTheFirstLineOfAFile() throws {
        #expect(try CataloguePassword.resolve([:]) == nil)
        #expect(try CataloguePassword.resolve(["BODYCAM_CATALOG_PASSWORD": "pw"]) == "pw")
        let path = NSTemporaryDirectory() + "bodycam-pw-\(UUID().uuidString.prefix(8))"
        try Data("  from-file \nsecond line\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try CataloguePassword.resolve(["BODYCAM_CATALOG_PASSWORD_FILE": path]) == "from-file")
        // The variable wins over the file.
        #expect(try CataloguePassword.resolve(["BODYCAM_CATALOG_PASSWORD": "env", "BODYCAM_CATALOG_PASSWORD_FILE": path]) == "env")
        try Data("\nsecond".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreLocationError.self) { try CataloguePassword.resolve(["BODYCAM_CATALOG_PASSWORD_FILE": path]) }
        #expect(throws: StoreLocationError.self) { try CataloguePassword.resolve(["BODYCAM_CATALOG_PASSWORD_FILE": path + "-missing"]) }
    }

    @Test func anUnreachableServerIsNamedQuickly() {
        let start = Date()
        let error = #expect(throws: PostgresFailure.self) { try PostgresCatalogue(url: "postgres://bodycam@127.0.0.1:1/bodycam", environment: [:]) }
        #expect(error?.description.hasPrefix("PostgreSQL at 127.0.0.1:1 cannot be reached") == true, "\(String(describing: error))")
        #expect(Date().timeIntervalSince(start) < 10)
    }
}
