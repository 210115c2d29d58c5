import Foundation
import Testing
@testable import BodycamCore

/// `bodycam run --config FILE` through the binary: the example file, options overriding the file, one-line
/// errors with exit status 64, and every option of `run` accepted as a key. (TOML to arguments in detail:
/// BodycamCLITests/ConfigFileTests.)
@Suite(.serialized)
struct ConfigTests {
    static func config(_ text: String, name: String = "cam.toml", _ function: String = #function) throws -> String {
        let path = TestSupport.temporaryDirectory(function) + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static var example: String { TestSupport.packageRoot.appendingPathComponent("Fixtures/bodycam.toml").path }

    @Test func theExampleConfigRuns() throws {
        let storage = TestSupport.temporaryDirectory()
        let out = try TestSupport.bodycam(["run", "--config", Self.example, "-t", "2s", "-o", storage], stdin: "")
        #expect(out.status == 0, "\(out.stderr)")
        let camera = try #require(out.events("camera").first)
        // The example's own values, not the defaults.
        #expect(camera["width"] as? Int == 640 && camera["height"] as? Int == 480 && camera["fps"] as? Int == 15, "\(camera)")
        #expect(camera["device"] as? String == "BWV-0042" && camera["prerecord_s"] as? Double == 30, "\(camera)")
        #expect(camera["storage"] as? String == storage)
        #expect(out.events.last?["t"] as? Double == 2)
        // And the same as a default-subcommand call (`bodycam --config FILE`).
        let again = try TestSupport.bodycam(["--config", Self.example, "-t", "2s", "-o", TestSupport.temporaryDirectory()], stdin: "")
        #expect(again.status == 0 && again.events("camera").first?["device"] as? String == "BWV-0042", "\(again.stderr)")
    }

    /// ArgumentParser (1.8.2) keeps the last occurrence of a single-value option: the file's arguments go first,
    /// so the command line wins, whether it uses the long or the short name.
    @Test func optionsOnTheCommandLineOverrideTheFile() throws {
        let file = try Self.config("size = \"320x240\"\nfps = 15\nprerecord = \"10s\"\ndevice-id = \"BWV-CONF\"\n")
        let out = try TestSupport.bodycam(["run", "--config", file, "--fps", "5", "-s", "160x120", "-t", "2s",
                                           "-o", TestSupport.temporaryDirectory()], stdin: "")
        #expect(out.status == 0, "\(out.stderr)")
        let camera = try #require(out.events("camera").first)
        #expect(camera["fps"] as? Int == 5 && camera["width"] as? Int == 160, "\(camera)")
        // What the command line does not give comes from the file.
        #expect(camera["prerecord_s"] as? Double == 10 && camera["device"] as? String == "BWV-CONF", "\(camera)")
        // --config after the options it overrides: the order on the command line does not matter.
        let before = try TestSupport.bodycam(["run", "-r", "5", "--config=\(file)", "-t", "2s", "-o", TestSupport.temporaryDirectory()],
                                             stdin: "")
        #expect(before.events("camera").first?["fps"] as? Int == 5, "\(before.stderr)")
    }

    @Test func aFlagInTheFileIsGivenAndFalseIsNot() throws {
        let strict = try Self.config("strict = true\nsize = \"160x120\"\nfps = 5\n")
        let failing = try TestSupport.bodycam(["run", "--config", strict, "-o", TestSupport.temporaryDirectory()],
                                              stdin: "wait 3s\nexpect state recording\nquit\n")
        #expect(failing.status == 1, "\(failing.stderr)")
        // Given in both places: still one flag.
        let both = try TestSupport.bodycam(["run", "--config", strict, "--strict", "-o", TestSupport.temporaryDirectory()],
                                           stdin: "wait 3s\nexpect state ready\nquit\n")
        #expect(both.status == 0, "\(both.stderr)")
        let lax = try Self.config("strict = false\nsize = \"160x120\"\nfps = 5\n")
        let passing = try TestSupport.bodycam(["run", "--config", lax, "-o", TestSupport.temporaryDirectory()],
                                              stdin: "wait 3s\nexpect state recording\nquit\n")
        #expect(passing.status == 0, "\(passing.stderr)")
    }

    @Test func relativePathsInTheFileAreTakenFromItsFolder() throws {
        let file = try Self.config("storage = \"bwv\"\nsize = \"160x120\"\nfps = 5\n")
        let folder = (file as NSString).deletingLastPathComponent
        let out = try TestSupport.bodycam(["run", "--config", file, "-t", "2s"], stdin: "")
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.events("camera").first?["storage"] as? String == folder + "/bwv")
        #expect(FileManager.default.fileExists(atPath: folder + "/bwv/state/device.json"))
    }

    @Test func mistakesInTheFileAreOneLineUsageErrors() throws {
        func problem(_ text: String, _ sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
            let file = try Self.config(text)
            let line = CLITests.usageError(try TestSupport.bodycam(["run", "--config", file, "-o", TestSupport.temporaryDirectory()],
                                                                   stdin: ""), sourceLocation)
            #expect(line.hasPrefix("bodycam run: --config \(file): "), "\(line)", sourceLocation: sourceLocation)
            #expect(line.hasSuffix(" (see 'bodycam run --help')"), "\(line)", sourceLocation: sourceLocation)
            return line
        }
        #expect(try problem("fps = 15\nfsp = 15\n").contains("unknown key 'fsp' (line 2); did you mean 'fps'?"))
        #expect(try problem("fps = \"15\"\n").contains("'fps' (line 1) is a string (\"15\"); fps takes a whole number"))
        #expect(try problem("size = 640\n").contains("'size' (line 1) is a number (640); size takes a string"))
        #expect(try problem("config = \"x.toml\"\n").contains("a config file cannot name another one"))
        #expect(try problem("fps = \n").contains("line 1: not valid TOML"))
        #expect(try problem("fps = 5\u{0}\n").contains("NUL"))
        // A value of the right type but out of range: the same check as on the command line, naming the file.
        let file = try Self.config("size = \"160x120\"\nfps = 500\n")
        #expect(CLITests.usageError(try TestSupport.bodycam(["run", "--config", file], stdin: ""))
                == "bodycam run: --fps 500: frames per second, 1 to 240 (set in \(file) line 2; see 'bodycam run --help')")
        // A mistake on the command line is not blamed on the file.
        #expect(CLITests.usageError(try TestSupport.bodycam(["run", "--config", file, "--fps", "0"], stdin: ""))
                == "bodycam run: --fps 0: frames per second, 1 to 240 (see 'bodycam run --help')")
        // Every value in the file is read, even one the command line overrides: a broken file is never half used.
        let soon = try Self.config("prerecord = \"soon\"\n", name: "soon.toml")
        #expect(CLITests.usageError(try TestSupport.bodycam(["run", "--config", soon, "--prerecord", "2s"], stdin: ""))
                == "bodycam run: the value 'soon' is invalid for '--prerecord <prerecord>': pre-record length, 0s to 120s (set in \(soon) line 1; see 'bodycam run --help')")

        for path in ["/nonexistent/cam.toml", "/etc", "/dev/null"] {
            let line = CLITests.usageError(try TestSupport.bodycam(["run", "--config", path], stdin: ""))
            #expect(line.hasPrefix("bodycam run: --config \(path): "), "\(line)")
        }
        let twice = CLITests.usageError(try TestSupport.bodycam(["run", "--config", Self.example, "--config", Self.example], stdin: ""))
        #expect(twice.contains("one config file at most"))
        #expect(CLITests.usageError(try TestSupport.bodycam(["run", "--config"], stdin: "")).contains("--config"))
        // Only `run` takes a config file.
        #expect(CLITests.usageError(try TestSupport.bodycam(["inspect", "--config", Self.example, "x.avi"]))
                .hasPrefix("bodycam inspect: unknown option '--config'"))
    }

    /// Every long option of `run` (as ArgumentParser describes it) is a key: a value of the wrong type gets the
    /// type error, not "unknown key". Fails when an option is added to `run` but not to `Run.configKeys`.
    @Test func everyRunOptionIsAConfigKey() throws {
        let names = try Self.longOptions(of: "run")
        #expect(names.count > 40 && names.contains("hold") && names.contains("strict"), "\(names)")
        for name in names where !["help", "version", "config"].contains(name) {
            let file = try Self.config("\(name) = 1.5\n")
            let out = try TestSupport.bodycam(["run", "--config", file], stdin: "")
            #expect(out.status == 64 && out.stderr.contains("'\(name)' (line 1) is a number with a fraction (1.5); \(name) takes "), "\(name): \(out.stderr)")
        }
    }

    /// `bodycam-records serve --config FILE`: the same reader, the data folder taken from the file's folder.
    @Test func recordsServeTakesAConfigFileToo() throws {
        let file = try Self.config("data = \"records\"\nlisten = \"127.0.0.1:0\"\nretention-every = \"0\"\n", name: "serve.toml")
        let folder = (file as NSString).deletingLastPathComponent
        let p = Process()
        p.executableURL = URL(fileURLWithPath: RecordsServer.binary)
        p.arguments = ["serve", "--config", file]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        // The first line is `listening` (or nothing, if it failed to start: then the read ends at exit).
        var line = Data()
        while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line += byte }
        let listening = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any], "\(String(decoding: line, as: UTF8.self))")
        #expect(listening["event"] as? String == "listening" && (listening["port"] as? Int ?? 0) > 0)
        #expect(FileManager.default.fileExists(atPath: folder + "/records/service.key"))

        let bad = try Self.config("listen = 8640\n", name: "bad.toml")
        #expect(CLITests.usageError(try TestSupport.run(RecordsServer.binary, ["serve", "--config", bad]))
                == "bodycam-records serve: --config \(bad): 'listen' (line 1) is a number (8640); listen takes a string, in quotes (listen = \"...\") (see 'bodycam-records serve --help')")
        // Only `serve` takes one.
        #expect(CLITests.usageError(try TestSupport.run(RecordsServer.binary, ["enrol", "BWV-1", "--data", folder, "--config", bad]))
                .hasPrefix("bodycam-records enrol: unknown option '--config'"))
    }

    /// The long option names of a subcommand of `bodycam`, from `--experimental-dump-help`.
    static func longOptions(of subcommand: String) throws -> [String] {
        let out = try TestSupport.bodycam([subcommand, "--experimental-dump-help"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any], "\(out.stderr)")
        let command = try #require(json["command"] as? [String: Any])
        let arguments = command["arguments"] as? [[String: Any]] ?? []
        return arguments.flatMap { argument in
            (argument["names"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "long" }.compactMap { $0["name"] as? String }
        }
    }
}
