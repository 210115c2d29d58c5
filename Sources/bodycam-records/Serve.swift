import ArgumentParser
import BodycamCLI
import BodycamEvidence
import BodycamRecords

/// `127.0.0.1:8640`: where to listen.
struct ListenAddress: ExpressibleByArgument, CustomStringConvertible {
    let host: String
    let port: Int
    var description: String { "\(host):\(port)" }
    var defaultValueDescription: String { description }

    init(host: String, port: Int) { (self.host, self.port) = (host, port) }

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":") else { return nil }
        let host = String(argument[..<colon]), portText = argument[argument.index(after: colon)...]
        guard !host.isEmpty, host.utf8.count <= 253, !host.contains(" "), portText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let port = Int(portText), (0...65535).contains(port) else { return nil }
        (self.host, self.port) = (host, port)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the records service: device enrolment, ingest and the people API over HTTP.",
        discussion: """
        Prints one JSON line {"event":"listening","address":…,"port":N,"service_key":"SHA256:…"} once it \
        accepts connections (--listen 127.0.0.1:0 picks a free port). Creates the service key on first start. \
        With --tls-cert and --tls-key it speaks HTTPS (TLS 1.2 or later): cameras dock with \
        --records https://HOST:PORT --records-ca CA.pem. Without them, plain HTTP: for loopback and tests only. \
        Stops on SIGINT or SIGTERM.
        """)

    // Read and removed before parsing (ConfigFile.expanding, in RecordsCommand.main): declared for --help and man.
    @Option(help: ArgumentHelp("Read options from this TOML file: keys are the long option names without the dashes (data = \"/srv/records\", listen = \"0.0.0.0:8640\"); a relative path in it is taken from the file's folder; options on the command line override it.", valueName: "file"))
    var config: String?
    @OptionGroup var data: DataOption
    @Option(help: "Address and port to listen on (port 0: any free port).")
    var listen = ListenAddress(host: "127.0.0.1", port: 8640)
    @Option(help: "Run the retention job this often, the first time one interval after start: 1h, 30m, 1d; 0 never.")
    var retentionEvery = "1h"
    @Option(help: ArgumentHelp("TLS certificate chain (PEM, the service's certificate first); with --tls-key.", valueName: "file"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("TLS private key (PEM) of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    /// The keys of `serve --config FILE`, with the TOML type each takes.
    static let configKeys: [String: ConfigFile.Kind] = [
        "data": .path(), "catalog": .text, "blobs": .text, "listen": .text, "retention-every": .text, "tls-cert": .path(), "tls-key": .path(),
    ]

    func run() async throws {
        let every: Int64? = retentionEvery == "0" ? nil : Lifetime.parse(retentionEvery)
        guard retentionEvery == "0" || every != nil else { fail("--retention-every '\(retentionEvery.prefix(20))': 0, or a number and d, h, m or s (1h)") }
        guard (tlsCert == nil) == (tlsKey == nil) else { fail("--tls-cert and --tls-key: give both, or neither for plain HTTP") }
        let tls = tlsCert.map { TLSFiles(certificateChain: $0, privateKey: tlsKey ?? "") }
        let service = data.open()
        let fingerprint = service.identity.fingerprint
        let scheme = tls == nil ? "http" : "https"
        do {
            let app = try RecordsServer.application(service: service, host: listen.host, port: listen.port, tls: tls) { host, port in
                var address = ""
                JSON.quote(host, into: &address)
                emit(#"{"event":"listening","scheme":"\#(scheme)","address":\#(address),"port":\#(port),"service_key":"\#(fingerprint)"}"#)
                // Retention starts once the service listens, so "listening" is always the first line.
                if let every { Self.startRetention(service, every: every) }
            }
            // On Swift's shared pool, not a task executor of our own: with an executor preference, the server's
            // teardown (a port in use, a stop) deadlocked in about one start in six on a loaded machine (the
            // runtime's task status lock against swift-async-algorithms' merge lock; Tests/records-port-in-use.sh).
            let server = Task { try await app.runService() }
            do { try await server.value } catch {
                fail("serving on \(listen): \(error)")
            }
        } catch {
            fail("TLS: \(error)") // only building the application throws: the certificate or key files
        }
    }

    /// The retention job every `every` nanoseconds, its blocking disk work on a thread of its own; a line for
    /// each deletion (JSON), nothing when there was nothing to do. The first run waits one interval, so a
    /// service restarted (or started to look at a copy of a store) deletes nothing at once. Ends with the process.
    static func startRetention(_ service: RecordsService, every: Int64) {
        Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .nanoseconds(every))
                do {
                    let report = try await Blocking.run { try service.runRetention(now: service.clock()) }
                    if !report.deleted.isEmpty || report.blobsRemoved > 0 || !report.failures.isEmpty { printRetention(report, json: true) }
                } catch {
                    diagnostic("retention: \(error)")
                }
            }
        }
    }
}
