import BodycamEvidence
import CHAL
#if canImport(Glibc)
import Glibc
#endif

/// Resident memory of this process, from /proc/self/statm, read without allocating; the cores it may use.
public enum ProcessStats {
    /// The CPUs this process may run on (its affinity mask: `taskset -c 0` gives 1), at least 1.
    public static var availableCores: Int { Int(hal_available_cores()) }

    public static func residentBytes() -> Int64? {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { buf -> Int64? in
            let n = read(fd, buf.baseAddress, buf.count)
            guard n > 0 else { return nil }
            // "size resident shared ..." in pages: take the second field.
            var field = 0, value: Int64 = 0
            for i in 0..<n {
                let c = buf[i]
                if c == 32 { if field == 1 { break }; field += 1; continue }
                if field == 1 && c >= 48 && c <= 57 { value = value * 10 + Int64(c - 48) }
            }
            return value * Int64(sysconf(Int32(_SC_PAGESIZE)))
        }
    }
}
