import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A `bodycam-records serve` process on loopback for end-to-end tests, started and killed like a real one.
final class RecordsServer {
    /// $BODYCAM_RECORDS_BIN, else the debug build `swift test` has just made (never a release build that
    /// could be stale).
    static var binary: String {
        if let b = ProcessInfo.processInfo.environment["BODYCAM_RECORDS_BIN"], !b.isEmpty { return b }
        return TestSupport.packageRoot.appendingPathComponent(".build/debug/bodycam-records").path
    }

    let data: String
    private(set) var process: Process?
    private(set) var port = 0
    private(set) var serviceKey = ""
    private var logPath: String
    /// Served over TLS with this certificate and key (PEM files), or plain HTTP.
    let tls: (certificate: String, key: String)?
    var url: String { "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)" }

    /// Starts a service on `data` (a new folder by default) on a free port.
    init(data: String = TestSupport.temporaryDirectory("records-data"), tls: (certificate: String, key: String)? = nil) throws {
        self.data = data
        self.tls = tls
        logPath = TestSupport.temporaryDirectory("records-log") + "/stdout"
        try start()
    }

    deinit { stop() }

    /// Starts (again) on the same data and, after a restart, the same port when it is still free.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["serve", "--data", data, "--listen", "127.0.0.1:\(port)"] + (tls.map { ["--tls-cert", $0.certificate, "--tls-key", $0.key] } ?? [])
        FileManager.default.createFile(atPath: logPath, contents: nil)
        FileManager.default.createFile(atPath: logPath + ".err", contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath + ".err"))
        p.standardInput = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: logPath, encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.contains("\"listening\"") }),
               let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
               let port = json["port"] as? Int {
                self.port = port
                serviceKey = json["service_key"] as? String ?? ""
                return
            }
            guard p.isRunning else { break }
            usleep(20_000)
        }
        let err = (try? String(contentsOfFile: logPath + ".err", encoding: .utf8)) ?? ""
        throw Failure("bodycam-records did not start listening: \(err.suffix(2000))")
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// Kills the service (SIGKILL by default: a crash) and waits for it to go.
    func kill(_ signal: Int32 = SIGKILL) {
        guard let p = process, p.isRunning else { return }
        Glibc.kill(p.processIdentifier, signal)
        p.waitUntilExit()
    }

    func stop() {
        kill(SIGTERM)
        process = nil
    }

    var stderr: String { (try? String(contentsOfFile: logPath + ".err", encoding: .utf8)) ?? "" }

    /// An administrative command on this service's data folder.
    func admin(_ arguments: [String]) throws -> TestSupport.Output {
        guard let verb = arguments.first else { throw Failure("no command") }
        return try TestSupport.run(Self.binary, [verb] + Array(arguments.dropFirst()) + ["--data", data])
    }

    /// A one-time enrolment token for `device`.
    func enrolmentToken(_ device: String) throws -> String {
        let out = try admin(["enrol", device])
        guard out.status == 0, let token = out.lines.last?.trimmingCharacters(in: .whitespaces), !token.isEmpty else {
            throw Failure("enrol \(device): \(out.stderr)")
        }
        return token
    }

    /// The service's public key line, `RECORDS ed25519 HEX`.
    func keyLine() throws -> String {
        let out = try admin(["key"])
        guard out.status == 0, let line = out.lines.first(where: { $0.hasPrefix("RECORDS ed25519 ") }) else { throw Failure("key: \(out.stderr)") }
        return line
    }
}
