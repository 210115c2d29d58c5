import BodycamEvidence
import Foundation
import GRDB
import Testing
@testable import BodycamRecords
#if canImport(Glibc)
import Glibc
#endif

/// The `bodycam-records` executable as an administrator and a supervisor run it.
@Suite struct CommandTests {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// $BODYCAM_RECORDS_BIN, else the debug build `swift test` made.
    static var binary: String {
        if let b = ProcessInfo.processInfo.environment["BODYCAM_RECORDS_BIN"], !b.isEmpty { return b }
        return packageRoot.appendingPathComponent(".build/debug/bodycam-records").path
    }

    struct Output { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ arguments: [String]) throws -> Output {
        let dir = TestFolders.make("io")
        let out = URL(fileURLWithPath: dir + "/stdout"), err = URL(fileURLWithPath: dir + "/stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8), stderr: try String(contentsOf: err, encoding: .utf8))
    }

    @Test func administrationWritesTheCustodyLogAndCustodyFindsAnEdit() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build it first: swift build --product bodycam-records")
        let data = TestFolders.make()
        let key = try Self.run(["key", "--data", data])
        #expect(key.status == 0)
        #expect(key.stdout.hasPrefix("RECORDS ed25519 ") && key.stdout.count == 16 + 64 + 1)
        let token = try Self.run(["enrol", "DEV-000001", "--data", data, "--expires", "2d"])
        // The secret, a dot, and the hash of the service key it is for (RecordsWire.enrolmentToken).
        #expect(token.status == 0 && token.stdout.count == 64 + 1 + RecordsWire.tokenKeyHashDigits + 1)
        #expect(try Self.run(["enrol", "bad/id", "--data", data]).status != 0)
        #expect(try Self.run(["enrol", "DEV-000001", "--data", data, "--expires", "forever"]).status != 0)
        #expect(try Self.run(["officer", "add", "PC-1", "--name", "Jo Bloggs", "--trained", "--data", data]).status == 0)
        let dup = try Self.run(["officer", "add", "PC-1", "--name", "Again", "--data", data])
        #expect(dup.status == 1 && dup.stderr.contains("exists already"))
        let list = try Self.run(["officer", "list", "--json", "--data", data])
        #expect(list.stdout == #"{"officer_id":"PC-1","name":"Jo Bloggs","trained":true,"active":true}"# + "\n")
        #expect(try Self.run(["user", "add", "jo", "--role", "officer", "--officer", "PC-1", "--data", data]).stdout.count == 65)
        #expect(try Self.run(["user", "add", "x", "--role", "officer", "--data", data]).status == 1)
        #expect(try Self.run(["revoke", "DEV-000001", "--data", data]).stderr.contains("not enrolled"))

        let custody = try Self.run(["custody", "--data", data])
        #expect(custody.status == 0, "\(custody.stderr)")
        #expect(custody.stdout.split(separator: "\n").count == 3)
        let json = try Self.run(["custody", "--json", "--data", data])
        let identity = try ServiceIdentity.load(dataDirectory: data, create: false)
        let lines = json.stdout.split(separator: "\n").map { Array($0.utf8) }
        #expect(try CustodyLog.check(lines: lines, key: identity.publicKey).map(\.actor) == ["admin", "admin", "admin"])

        // One byte of entry 2 changed in the catalogue, as someone with the file could.
        let db = try DatabaseQueue(path: data + "/" + SQLiteCatalogue.fileName)
        try db.write { db in
            guard var line: Data = try Data.fetchOne(db, sql: "SELECT line FROM custody WHERE seq = 2") else { return }
            line[40] ^= 0x01
            try db.execute(sql: "UPDATE custody SET line = ? WHERE seq = 2", arguments: [line])
        }
        let broken = try Self.run(["custody", "--data", data])
        #expect(broken.status == 1)
        #expect(broken.stderr.contains("custody entry 2"))
        #expect(broken.stdout.split(separator: "\n").count == 1)
    }

    @Test func servePrintsItsAddressOnceItListens() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build it first: swift build --product bodycam-records")
        let data = TestFolders.make()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["serve", "--data", data, "--listen", "127.0.0.1:0"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        // The first line, read off the concurrency pool (a blocking read).
        let handle = pipe.fileHandleForReading
        let line = try await Blocking.run { () -> String in
            var bytes: [UInt8] = []
            while bytes.last != 10, let chunk = try? handle.read(upToCount: 1), let b = chunk.first { bytes.append(b) }
            return String(decoding: bytes, as: UTF8.self)
        }
        struct Listening: Decodable { var event: String; var address: String; var port: Int; var service_key: String }
        let event = try #require(try? JSONDecoder().decode(Listening.self, from: Data(line.utf8)), "\(line)")
        let identity = try ServiceIdentity.load(dataDirectory: data, create: false)
        #expect(event.event == "listening" && event.address == "127.0.0.1" && event.port > 0 && event.service_key == identity.fingerprint)
        let reply = try await HTTPClient.send(port: event.port, method: "POST", target: RecordsWire.dockPath)
        #expect(reply.status == 401)
    }
}
