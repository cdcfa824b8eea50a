import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection held open by a test: what idle clients, slowloris
/// attackers and half-sent requests do.
final class HeldSocket: @unchecked Sendable {
    let fd: Int32

    /// - Parameter receiveBuffer: the socket's receive buffer in bytes, set
    ///   before it connects (the kernel then does not grow it, and a client
    ///   that does not read holds the server back sooner).
    init?(port: Int, receiveBuffer: Int32? = nil) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Sends all of `bytes`; false once the peer is gone.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// Sends `text` and returns the first bytes answered (empty when the
    /// connection closed or nothing came within 10 s).
    func exchange(_ text: String) async -> String {
        guard send(text) else { return "" }
        let fd = self.fd
        return await withCheckedContinuation { continuation in
            Thread {
                var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pollFD, 1, 10_000) > 0 else { return continuation.resume(returning: "") }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = recv(fd, &buffer, buffer.count, 0)
                continuation.resume(returning: n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : "")
            }.start()
        }
    }

    /// Reads until what came contains `marker`, the connection closes or
    /// `seconds` pass; returns what came.
    func read(until marker: String, within seconds: Double = 10) async -> String {
        let fd = self.fd
        return await withCheckedContinuation { continuation in
            Thread {
                let deadline = Date().addingTimeInterval(seconds)
                var received = [UInt8]()
                var buffer = [UInt8](repeating: 0, count: 4096)
                let wanted = Array(marker.utf8)
                var found = false
                while Date() < deadline, !found {
                    var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    guard poll(&pollFD, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000))) > 0 else { continue }
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n <= 0 { break }
                    // Only where the new bytes could complete the marker is searched.
                    let from = max(0, received.count - wanted.count)
                    received += buffer[0..<n]
                    found = received[from...].firstRange(of: wanted) != nil
                }
                continuation.resume(returning: String(decoding: received, as: UTF8.self))
            }.start()
        }
    }

    /// Whether the server closed the connection within `seconds` (reads
    /// and drops whatever it sends first).
    func closedByServer(within seconds: Double) async -> Bool {
        let fd = self.fd
        return await withCheckedContinuation { continuation in
            Thread {
                let deadline = Date().addingTimeInterval(seconds)
                var buffer = [UInt8](repeating: 0, count: 4096)
                while Date() < deadline {
                    var pollFD = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&pollFD, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000)))
                    if ready <= 0 { continue }
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n <= 0 { return continuation.resume(returning: true) }
                }
                continuation.resume(returning: false)
            }.start()
        }
    }
}

/// Sends raw bytes on a new TCP connection and reads until the server closes
/// or `timeout` passes. For requests no well-behaved client would send.
func rawExchange(port: Int, _ bytes: [UInt8], closeWriteAfterSend: Bool = false, timeout: Double = 10) async -> String {
    guard let socket = HeldSocket(port: port) else { return "" }
    let fd = socket.fd
    return await withCheckedContinuation { continuation in
        Thread {
            var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            socket.send(bytes)
            if closeWriteAfterSend { shutdown(fd, Int32(SHUT_WR)) }
            var received = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                received += buffer[0..<n]
            }
            continuation.resume(returning: String(decoding: received, as: UTF8.self))
        }.start()
    }
}

