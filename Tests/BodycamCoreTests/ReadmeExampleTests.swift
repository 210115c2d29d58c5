import Foundation
import Testing
@testable import BodycamCore

/// The README's first example does what the README says: its `printf ... | bodycam run` script, run as written in
/// an empty folder, makes the file the README's `ffplay` line plays. Both are read from README.md, so the test
/// fails when either changes without the other.
struct ReadmeExampleTests {
    static var readme: String {
        get throws { try String(contentsOf: TestSupport.packageRoot.appendingPathComponent("README.md"), encoding: .utf8) }
    }

    /// The script and the options of the first `printf '...' | .build/release/bodycam run ...` line.
    static func firstExample(_ text: String) throws -> (script: String, options: [String]) {
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("printf '") && $0.contains("| .build/release/bodycam run") },
                                "no printf example in README.md")
        let quoted = line.dropFirst("printf '".count)
        let end = try #require(quoted.firstIndex(of: "'"))
        let script = quoted[..<end].replacingOccurrences(of: "\\n", with: "\n")
        let afterRun = try #require(line.range(of: "bodycam run"))
        let options = line[afterRun.upperBound...].split(separator: "#").first?.split(separator: " ").map(String.init) ?? []
        return (script, options)
    }

    /// The path of the first `ffplay PATH` line.
    static func ffplayPath(_ text: String) throws -> String {
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("ffplay ") }, "no ffplay line in README.md")
        return String(try #require(line.split(separator: " ").dropFirst().first))
    }

    @Test func theFirstExampleMakesTheFileTheREADMEPlays() throws {
        let text = try Self.readme
        let (script, options) = try Self.firstExample(text)
        #expect(script.hasSuffix("quit\n") && script.contains("double record"), "\(script)")
        let played = try Self.ffplayPath(text)
        #expect(played.hasPrefix("storage/recordings/") && played.hasSuffix(".avi"), "\(played)")

        // As a reader would run it: in a fresh folder, the default storage `./storage`, stdin a pipe.
        let folder = TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) } // a 1280x720 recording: about 300 MB
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.binary)
        p.arguments = ["run"] + options
        p.currentDirectoryURL = URL(fileURLWithPath: folder)
        // Docking is not in the example; a records folder of its own keeps the test away from $HOME anyway.
        p.environment = ProcessInfo.processInfo.environment.merging(["XDG_DATA_HOME": folder + "/xdg"]) { $1 }
        let stdin = Pipe(), out = Pipe()
        p.standardInput = stdin
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        stdin.fileHandleForWriting.write(Data(script.utf8))
        try stdin.fileHandleForWriting.close()
        let events = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)

        let made = try FileManager.default.contentsOfDirectory(atPath: folder + "/storage/recordings").filter { $0.hasSuffix(".avi") }.sorted()
        #expect(FileManager.default.fileExists(atPath: folder + "/" + played),
                "README.md plays \(played); the example made \(made)")
        // The segment the run reported is that file, and the only one.
        let segments = String(decoding: events, as: UTF8.self).split(separator: "\n").filter { $0.contains("\"event\":\"segment\"") }
        #expect(segments.count == 1 && segments.contains { $0.contains("\"path\":\"\(played)\"") }, "\(segments)")
        // `inspect` reads it back: one JSON line for the one file.
        let inspect = try TestSupport.bodycam(["inspect", folder + "/" + played])
        #expect(inspect.status == 0 && inspect.events.count == 1 && inspect.events.first?["frames"] as? Int ?? 0 > 1000,
                "\(inspect.stdout) \(inspect.stderr)")
    }
}
