import Foundation
import Testing
@testable import BodycamCLI

/// `--config FILE`: TOML to arguments, in-process. The binary's side (precedence, exit status, the example
/// file) is in BodycamCoreTests/ConfigTests.
struct ConfigFileTests {
    static let keys: [String: ConfigFile.Kind] = [
        "size": .text, "fps": .integer, "prerecord": .text, "overlay-time": .text, "strict": .flag,
        "storage": .path(), "camera": .path(keeping: ["auto", "none"]), "records": .path(), "dock-clock-offset": .text,
        "battery-alerts": .text,
    ]

    static func arguments(_ text: String, folder: String = "/etc/bodycam") throws(ConfigFile.Problem) -> [String] {
        try ConfigFile.arguments(fromText: text, file: "cam.toml", folder: folder, keys: keys)
    }

    /// The problem's text, or a failed expectation if the text was accepted.
    static func problem(_ text: String, _ sourceLocation: SourceLocation = #_sourceLocation) -> String {
        do {
            let args = try arguments(text)
            Issue.record("accepted: \(args)", sourceLocation: sourceLocation)
            return ""
        } catch {
            #expect(!error.description.contains("\n"), "\(error.description)", sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix("--config cam.toml: "), sourceLocation: sourceLocation)
            return error.description
        }
    }

    @Test func keysBecomeArgumentsInTheOrderOfTheirLines() throws {
        let text = """
        # a camera for the night shift
        size = "640x480"
        fps = 15
        prerecord = "30s"
        overlay-time = "local"
        strict = true
        """
        #expect(try Self.arguments(text) == ["--size=640x480", "--fps=15", "--prerecord=30s", "--overlay-time=local", "--strict"])
        #expect(try Self.arguments("") == [])
        #expect(try Self.arguments("# only a comment\n\n") == [])
    }

    @Test func aFalseFlagIsNotGiven() throws {
        #expect(try Self.arguments("strict = false\nfps = 5") == ["--fps=5"])
    }

    /// `--key=value`: a value that starts with a dash is not taken for an option.
    @Test func valuesStartingWithADashStayValues() throws {
        #expect(try Self.arguments(#"dock-clock-offset = "-1s""#) == ["--dock-clock-offset=-1s"])
        #expect(try Self.arguments(#"fps = -3"#) == ["--fps=-3"]) // ArgumentParser then rejects the value
    }

    @Test func relativePathsAreTakenFromTheConfigFilesFolder() throws {
        #expect(try Self.arguments(#"storage = "bwv""#) == ["--storage=/etc/bodycam/bwv"])
        #expect(try Self.arguments(#"storage = "../bwv/x""#) == ["--storage=/etc/bodycam/../bwv/x"])
        #expect(try Self.arguments(#"storage = "/var/bwv""#) == ["--storage=/var/bwv"])
        #expect(try Self.arguments(#"storage = "bwv""#, folder: "") == ["--storage=bwv"])
        #expect(try Self.arguments(#"storage = "bwv""#, folder: "conf") == ["--storage=conf/bwv"])
        // URLs and keywords are not paths.
        #expect(try Self.arguments(#"records = "https://records.example:8640""#) == ["--records=https://records.example:8640"])
        #expect(try Self.arguments(#"camera = "auto""#) == ["--camera=auto"])
        #expect(try Self.arguments(#"camera = "/dev/video0""#) == ["--camera=/dev/video0"])
        #expect(Self.problem(#"storage = """#).contains("'storage' (line 1): an empty path"))
    }

    @Test func wrongTypesAreOneLineNamingKeyLineAndWhatItTakes() throws {
        #expect(Self.problem("size = \"640x480\"\nfps = \"15\"")
                == #"--config cam.toml: 'fps' (line 2) is a string ("15"); fps takes a whole number, unquoted (fps = 15)"#)
        #expect(Self.problem("size = 640")
                == #"--config cam.toml: 'size' (line 1) is a number (640); size takes a string, in quotes (size = "...")"#)
        #expect(Self.problem("fps = 15.5").contains("'fps' (line 1) is a number with a fraction (15.5); fps takes a whole number"))
        #expect(Self.problem("strict = \"yes\"").contains("'strict' (line 1) is a string (\"yes\"); strict takes true or false"))
        #expect(Self.problem("strict = 1").contains("strict takes true or false"))
        #expect(Self.problem("fps = true").contains("'fps' (line 1) is true; fps takes a whole number"))
        #expect(Self.problem("battery-alerts = [10, 5]").contains("'battery-alerts' (line 1) is an array or a table; battery-alerts takes a string"))
        #expect(Self.problem("fps = 5\nsize = { w = 640 }").contains("'size' (line 2) is an array or a table"))
        #expect(Self.problem("fps = 5\nsiez = [1]").contains("unknown key 'siez' (line 2); did you mean 'size'?"))
        // Brackets in strings and comments are not arrays.
        #expect(try Self.arguments("size = \"[640x480]\" # [not a section]\nprerecord = '{30s}'")
                == ["--size=[640x480]", "--prerecord={30s}"])
        #expect(try Self.arguments("size = \"\"\"\n[640x480\\\"\"\"\"\nfps = 5") == ["--size=[640x480\"", "--fps=5"])
        #expect(Self.problem("prerecord = 2026-01-01T08:00:00Z").contains("is a TOML date or time"))
        #expect(Self.problem("fps = 5\n[camera]\nfps = 5") == "--config cam.toml: line 2: a [section] or an array; every key goes at the top level, with one value")
        #expect(Self.problem("fps = 5\nsize.x = 5")
                == #"--config cam.toml: 'size' (line 2) is a dotted key (a table); size takes a string, in quotes (size = "...")"#)
        #expect(Self.problem("\"fps\" . x = 5").contains("'fps' (line 1) is a dotted key (a table)"))
        #expect(try Self.arguments("\"fps\" = 5\nsize = \"6.4x4.8\"\nprerecord = '1.5s' # a.b") == ["--fps=5", "--size=6.4x4.8", "--prerecord=1.5s"])
        // toml++ recursed once per dot: 200,000 overflowed the stack.
        #expect(Self.problem(Array(repeating: "a", count: 200_000).joined(separator: ".") + " = 1").contains("unknown key 'a' (line 1)"))
    }

    @Test func unknownKeysAreErrorsWithASuggestion() {
        #expect(Self.problem("fps = 5\nsiez = \"1x1\"")
                == "--config cam.toml: unknown key 'siez' (line 2); did you mean 'size'?; keys are the long option names without the dashes")
        #expect(Self.problem("overlay_time = \"utc\"").contains("unknown key 'overlay_time' (line 1); did you mean 'overlay-time'?"))
        #expect(Self.problem("\"--fps\" = 5").contains("unknown key '--fps' (line 1); did you mean 'fps'?"))
        #expect(!Self.problem("zzzzzz = 1").contains("did you mean"))
        // Short names are not keys.
        #expect(Self.problem("r = 5").contains("unknown key 'r' (line 1)"))
    }

    @Test func aConfigCannotNameAnother() {
        #expect(Self.problem("config = \"other.toml\"").contains("'config' (line 1): a config file cannot name another one"))
    }

    @Test func invalidTOMLNamesTheLine() {
        #expect(Self.problem("fps = 5\nsize = \"640x480\nquality = 3").hasPrefix("--config cam.toml: line 2: not valid TOML: "))
        #expect(Self.problem("fps = 5\nfps = 6").hasPrefix("--config cam.toml: line 2: not valid TOML: "))
        #expect(Self.problem("fps 5").hasPrefix("--config cam.toml: line 1: not valid TOML: "))
        #expect(Self.problem("size = [" + String(repeating: "[", count: 5000)).contains("'size' (line 1) is an array"))
    }

    @Test func nulBytesAreRefusedNotCut() {
        // toml++ reads a C string: "fps = 5\0..." must not be read as "fps = 5".
        #expect(Self.problem("fps = 5\u{0}garbage").contains("NUL"))
        #expect(Self.problem("fps = 5\nsize = \"640x480\\u0000junk\"").contains("line 2: a NUL character"))
    }

    /// toml++ asserts (in a build without NDEBUG, as `swift build`'s debug one) on these instead of reporting them:
    /// found by fuzzing it. They never reach it.
    @Test func inputsThatTrippedTomlPlusPlusAssertionsAreProblems() {
        for text in ["[}", "[é]", "[,]", "[\n]", "[[}]]", "a = [}", "a = [1, }", "a = [\n}", "ss7z=[}'ppzeu", "a = {b = [}}"] {
            #expect(!Self.problem(text).isEmpty, "\(text)")
        }
    }

    /// A 1 MiB file of one-line keys is answered at once (a search of the text per key took minutes).
    @Test func manyKeysAreQuick() {
        let text = (0..<90_000).map { "k\($0) = 1" }.joined(separator: "\n")
        let began = Date()
        #expect(Self.problem(text).hasPrefix("--config cam.toml: unknown key 'k0' (line 1)"))
        #expect(Date().timeIntervalSince(began) < 10)
        #expect(Self.problem("fps = 1\n" + text + "\n\"size\" = 5").contains("unknown key 'k0' (line 2)"))
        #expect(ConfigFile.keyLines("a = 1\n  \"b c\" = 2\n'd' = 3\ne.f = 4\n# g = 5\nh=6\na = 7") == ["a": 1, "b c": 2, "d": 3, "e": 4, "h": 6])
    }

    /// Whatever the bytes, an answer or a Problem: never a trap (a trap would end this test process).
    @Test func randomTextNeverTraps() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("fps=size\"'[]{}.,#\\\n \t0123456789-_truefalsentx:Z\u{0}é")
        for _ in 0..<30000 {
            let n = Int.random(in: 0..<40, using: &generator)
            let text = String((0..<n).map { _ in alphabet.randomElement(using: &generator)! })
            _ = try? Self.arguments(text)
        }
    }

    // MARK: - Reading the file

    static func temporary(_ name: String = #function) -> String {
        let dir = NSTemporaryDirectory() + "bodycam-cli-tests/\(name.filter(\.isLetter))-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func fileProblem(_ path: String, _ sourceLocation: SourceLocation = #_sourceLocation) -> String {
        do {
            _ = try ConfigFile.arguments(fromFile: path, keys: keys)
            Issue.record("accepted \(path)", sourceLocation: sourceLocation)
            return ""
        } catch {
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
            return error.description
        }
    }

    @Test func filesThatCannotBeConfigsAreOneLine() throws {
        let dir = Self.temporary()
        #expect(Self.fileProblem(dir + "/missing.toml") == "--config \(dir)/missing.toml: cannot read: No such file or directory")
        #expect(Self.fileProblem(dir) == "--config \(dir): is a folder, not a config file")
        #expect(Self.fileProblem("/dev/null") == "--config /dev/null: is not a regular file")
        #expect(Self.fileProblem("") == "--config '': no file named")

        let big = dir + "/big.toml"
        try Data(String(repeating: "# padding\n", count: 110_000).utf8).write(to: URL(fileURLWithPath: big))
        #expect(Self.fileProblem(big) == "--config \(big): is 1100000 bytes; a config file is at most 1 MiB")
        let exactly = dir + "/exactly.toml"
        try Data(("fps = 5\n" + String(repeating: "#", count: ConfigFile.maxBytes - 9) + "\n").utf8).write(to: URL(fileURLWithPath: exactly))
        #expect(try ConfigFile.arguments(fromFile: exactly, keys: Self.keys) == ["--fps=5"])

        let latin1 = dir + "/latin1.toml"
        try Data([0x73, 0x69, 0x7a, 0x65, 0x20, 0x3d, 0x20, 0x22, 0xe9, 0x22, 0x0a]).write(to: URL(fileURLWithPath: latin1))
        #expect(Self.fileProblem(latin1) == "--config \(latin1): is not UTF-8 text")

        let fifo = dir + "/fifo.toml"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(Self.fileProblem(fifo) == "--config \(fifo): is not a regular file") // and does not hang

        if getuid() != 0 { // root reads anything
            let locked = dir + "/locked.toml"
            try Data("fps = 5\n".utf8).write(to: URL(fileURLWithPath: locked))
            chmod(locked, 0)
            #expect(Self.fileProblem(locked).contains("cannot read: Permission denied"))
        }
    }

    @Test func aFileGivesItsFolderForRelativePaths() throws {
        let dir = Self.temporary()
        let file = dir + "/cam.toml"
        try Data("storage = \"bwv\"\nfps = 10\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try ConfigFile.arguments(fromFile: file, keys: Self.keys) == ["--storage=\(dir)/bwv", "--fps=10"])
    }

    // MARK: - Where the file's arguments go

    @Test func theFilesArgumentsGoBeforeTheCommandLinesOwn() throws {
        let dir = Self.temporary()
        let file = dir + "/cam.toml"
        try Data("fps = 10\n".utf8).write(to: URL(fileURLWithPath: file))
        func expand(_ args: [String]) throws(ConfigFile.Problem) -> [String] {
            try ConfigFile.expanding(args, subcommand: "run", isDefault: true, subcommands: ["run", "inspect"], keys: Self.keys).arguments
        }
        #expect(try expand(["run", "--config", file, "--fps", "5"]) == ["run", "--fps=10", "--fps", "5"])
        #expect(try expand(["run", "-r", "5", "--config=\(file)"]) == ["run", "--fps=10", "-r", "5"])
        // `run` is the default subcommand.
        #expect(try expand(["--config", file, "-t", "2s"]) == ["--fps=10", "-t", "2s"])
        // Another subcommand, help, and arguments after `--` are left alone.
        #expect(try expand(["inspect", "--config", file]) == ["inspect", "--config", file])
        #expect(try expand(["run", "--config", file, "--help"]) == ["run", "--config", file, "--help"])
        #expect(try expand(["run", "--", "--config", file]) == ["run", "--", "--config", file])
        // A missing value is ArgumentParser's to report.
        #expect(try expand(["run", "--config"]) == ["run", "--config"])
        #expect(try expand(["run", "--fps", "5"]) == ["run", "--fps", "5"])
        #expect(throws: ConfigFile.Problem.self) { try expand(["run", "--config", file, "--config", file]) }
        #expect(throws: ConfigFile.Problem.self) { try expand(["run", "--config", dir + "/none.toml"]) }
    }
}
