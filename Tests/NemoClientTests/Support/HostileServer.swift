import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A TCP server that answers every request with whatever `respond` writes
/// (a raw socket: no framework smooths what it sends). For the servers the
/// client must survive: one that floods, one that never answers.
final class HostileServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let respond: @Sendable (_ path: String, _ fd: Int32) -> Void

    init(respond: @escaping @Sendable (_ path: String, _ fd: Int32) -> Void) throws {
        self.respond = respond
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        Thread {
            while true {
                let fd = accept(listener, nil, nil)
                if fd < 0 { return }
                Thread {
                    defer { close(fd) }
                    // The request head: enough to know the path.
                    var head = [UInt8]()
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)) {
                        let n = recv(fd, &buffer, 1, 0)
                        if n <= 0 { return }
                        head.append(buffer[0])
                    }
                    // And its body (unread bytes would make the close a reset).
                    let text = String(decoding: head, as: UTF8.self)
                    let length = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                    var read = 0
                    while read < length {
                        let n = recv(fd, &buffer, min(buffer.count, length - read), 0)
                        if n <= 0 { return }
                        read += n
                    }
                    let line = text.split(separator: " ")
                    respond(line.count > 1 ? String(line[1]) : "/", fd)
                }.start()
            }
        }.start()
    }

    deinit { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Writes all of `text`; false once the peer is gone.
    @discardableResult
    static func write(_ fd: Int32, _ text: String) -> Bool { write(fd, Array(text.utf8)) }

    @discardableResult
    static func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }
}
