import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on loopback in front of the gateway that loses the answer to the first request whose head
/// matches `dropAnswerTo` (e.g. "PUT /bucket/blobs/"): the request reaches the gateway and is carried out,
/// then the client's connection is closed before a byte of the answer, as when a gateway restarts right
/// after doing the work. Everything else passes through.
final class LostAnswerProxy: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let target: Int
    private let pattern: [UInt8]
    private let dropped = Mutex(false)
    private let stopped = Mutex(false)

    init(targetPort: Int, dropAnswerTo pattern: String) throws {
        (target, self.pattern) = (targetPort, Array(pattern.utf8))
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(listener, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        var actual = addr
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        port = Int(UInt16(bigEndian: actual.sin_port))
        Thread { self.acceptLoop() }.start()
    }

    var droppedOne: Bool { dropped.withLock { $0 } }

    func stop() {
        stopped.withLock { $0 = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while !stopped.withLock({ $0 }) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(target).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard ok == 0 else { close(client); close(upstream); continue }
            // Set when this connection carries the request whose answer is to be lost.
            let armed = Mutex(false)
            Thread { self.pump(from: client, to: upstream) { chunk in
                if chunk.starts(with: self.pattern), self.dropped.withLock({ d in defer { d = true }; return !d }) { armed.withLock { $0 = true } }
                return true
            } }.start()
            Thread { self.pump(from: upstream, to: client) { _ in
                if armed.withLock({ $0 }) {
                    // The answer came: the work is done. Lose it.
                    shutdown(client, Int32(SHUT_RDWR))
                    shutdown(upstream, Int32(SHUT_RDWR))
                    return false
                }
                return true
            } }.start()
        }
    }

    /// Copies bytes until either side closes or `forward` says no.
    private func pump(from: Int32, to: Int32, _ forward: ([UInt8]) -> Bool) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            let chunk = Array(buffer[0..<n])
            guard forward(chunk) else { break }
            var sent = 0
            while sent < n {
                let w = chunk.withUnsafeBytes { write(to, $0.baseAddress! + sent, n - sent) }
                guard w > 0 else { break }
                sent += w
            }
            if sent < n { break }
        }
        shutdown(to, Int32(SHUT_WR))
        shutdown(from, Int32(SHUT_RD))
    }
}
