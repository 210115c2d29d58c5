import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import BodycamCore
@testable import BodycamEvidence

/// Shared helpers: temporary folders, running the `bodycam` binary and Debian's ffprobe/ffmpeg/djpeg.
enum TestSupport {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The binary under test: $BODYCAM_BIN (the Makefile passes the release build), else the debug build.
    static var binary: String {
        if let b = ProcessInfo.processInfo.environment["BODYCAM_BIN"], !b.isEmpty { return b }
        return packageRoot.appendingPathComponent(".build/debug/bodycam").path
    }

    static func temporaryDirectory(_ name: String = #function) -> String {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let path = NSTemporaryDirectory() + "bodycam-tests/\(safe)-\(UUID().uuidString.prefix(8))"
        // A folder that cannot be made fails the test that needed it (every use of it then fails), not the process.
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            Issue.record("cannot make the temporary folder \(path): \(error)")
        }
        return path
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
        /// Parsed JSON Lines events.
        var events: [[String: Any]] {
            lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        func events(_ type: String) -> [[String: Any]] { events.filter { $0["event"] as? String == type } }
    }

    /// Runs a program to completion, capturing stdout and stderr (via files: no pipe deadlocks).
    /// `environment`: added to this process's own.
    static func run(_ executable: String, _ arguments: [String], stdin: String? = nil,
                    environment: [String: String] = [:]) throws -> Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let dir = temporaryDirectory("io")
        let out = URL(fileURLWithPath: dir + "/stdout"), err = URL(fileURLWithPath: dir + "/stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        if let stdin {
            let inPath = dir + "/stdin"
            try stdin.write(toFile: inPath, atomically: true, encoding: .utf8)
            p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inPath))
        } else {
            p.standardInput = FileHandle.nullDevice
        }
        try p.run()
        p.waitUntilExit()
        let o = Output(status: p.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
                       stderr: try String(contentsOf: err, encoding: .utf8))
        try? FileManager.default.removeItem(atPath: dir)
        return o
    }

    /// A listening TCP socket on 127.0.0.1 at a free port (for canned and hostile servers in tests).
    static func loopbackListener(backlog: Int32 = 8) -> (fd: Int32, port: UInt16) {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) } }
        listen(s, backlog)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        return (s, UInt16(bigEndian: addr.sin_port))
    }

    static func bodycam(_ arguments: [String], stdin: String? = nil) throws -> Output {
        try run(binary, arguments, stdin: stdin)
    }

    /// A device storage made by running `script` (then `quit`) with `--strict`; with `records`, docked there.
    static func deviceStorage(_ name: String, options: [String], script: String, records: String? = nil,
                              sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let storage = temporaryDirectory(name)
        var args = ["run", "--strict", "--storage", storage] + options
        if let records { args += ["--records", records, "--offload-rate", "100000000"] }
        let out = try bodycam(args, stdin: script + "quit\n")
        #expect(out.status == 0, "\(out.stderr)", sourceLocation: sourceLocation)
        return storage
    }

    /// A trusted-keys file holding the keys of these device storages, as enrolment would record them
    /// (`bodycam key STORAGE`).
    static func trustedKeys(_ storages: [String]) throws -> String {
        var lines = ""
        for s in storages {
            let o = try bodycam(["key", s])
            guard o.status == 0 else { throw TestError("bodycam key \(s): \(o.stderr)") }
            lines += o.stdout
        }
        let path = temporaryDirectory("keys") + "/trusted-keys"
        try lines.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `bodycam verify PATH --trusted-keys KEYS`.
    static func verify(_ path: String, keys: String) throws -> Output {
        try bodycam(["verify", path, "--trusted-keys", keys])
    }

    /// `bodycam verify PATH`, trusting the key of the device whose storage is `storage`.
    static func verify(_ path: String, trusting storage: String) throws -> Output {
        try verify(path, keys: try trustedKeys([storage]))
    }

    /// `bodycam verify RECORDS`, trusting the keys the records pinned.
    static func verifyRecords(_ records: String) throws -> Output {
        try verify(records, keys: records + "/trusted-keys")
    }

    /// Locates a tool on PATH (ffprobe, ffmpeg, djpeg).
    static func tool(_ name: String) -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return "/usr/bin/\(name)"
    }

    struct Probe {
        var codec: String
        var width: Int
        var height: Int
        var frameRate: String
        var frames: Int
    }

    /// What ffprobe (an independent demuxer) says of a video file. `-count_frames` makes it read every
    /// packet rather than trust the header.
    static func ffprobe(_ path: String) throws -> Probe {
        let o = try run(tool("ffprobe"), ["-v", "error", "-count_frames", "-select_streams", "v:0",
                                          "-show_entries", "stream=codec_name,width,height,r_frame_rate,nb_read_frames",
                                          "-of", "json", path])
        guard o.status == 0,
              let json = try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [String: Any],
              let stream = (json["streams"] as? [[String: Any]])?.first else {
            throw TestError("ffprobe failed on \(path): \(o.stderr)")
        }
        return Probe(codec: stream["codec_name"] as? String ?? "", width: stream["width"] as? Int ?? 0,
                     height: stream["height"] as? Int ?? 0, frameRate: stream["r_frame_rate"] as? String ?? "",
                     frames: Int(stream["nb_read_frames"] as? String ?? "") ?? -1)
    }

    /// Decodes every frame with ffmpeg; returns what it printed at error level (empty when clean).
    static func ffmpegDecodeErrors(_ path: String) throws -> String {
        let o = try run(tool("ffmpeg"), ["-v", "error", "-nostdin", "-i", path, "-f", "null", "-"])
        return o.status == 0 ? o.stderr : "exit \(o.status): \(o.stderr)"
    }

    /// The camera's stamp of every frame of `segments`, in order (a frame without one fails the test).
    static func stamps(_ segments: [String]) throws -> [FrameStamp] {
        try segments.flatMap { path -> [FrameStamp] in
            let avi = try AVIReader.read(path: path)
            return try avi.frames.indices.map { try #require(avi.stamp($0)) }
        }
    }

    static func segments(in storage: String) -> [String] {
        let dir = storage + "/recordings"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".avi") }.sorted().map { dir + "/" + $0 }
    }

    /// Checks a segment with ffprobe and ffmpeg and returns our own reading of it.
    static func checkSegment(_ path: String, width: Int, height: Int, fps: Int,
                             sourceLocation: SourceLocation = #_sourceLocation) throws -> AVIReader {
        let avi = try AVIReader.read(path: path)
        let probe = try ffprobe(path)
        #expect(probe.codec == "mjpeg", sourceLocation: sourceLocation)
        #expect(probe.width == width && probe.height == height, sourceLocation: sourceLocation)
        #expect(probe.frameRate == "\(fps)/1", sourceLocation: sourceLocation)
        #expect(probe.frames == avi.frames.count, "ffprobe frame count", sourceLocation: sourceLocation)
        // The header counts every frame interval: frames, and placeholders for frames that never came.
        #expect(avi.headerFrames == avi.timelineEntries && avi.streamLength == avi.timelineEntries, sourceLocation: sourceLocation)
        #expect(try ffmpegDecodeErrors(path) == "", sourceLocation: sourceLocation)
        return avi
    }
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
