import Foundation
import NemoClient
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Runs a command; returns its exit status.
@discardableResult
func run(_ arguments: [String], in directory: URL) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.currentDirectoryURL = directory
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

/// A local HTTPS server (Python's http.server with a certificate signed by a
/// test CA made here with openssl), answering every GET with a small JSON.
struct LocalHTTPSServer {
    let process: Process
    let port: Int
    let caFile: String
    let directory: URL

    static func start() throws -> LocalHTTPSServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nemosim-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let steps: [[String]] = [
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=nemosim test CA"],
            ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
            ["sh", "-c", "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext.cnf"],
            ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"],
        ]
        for step in steps {
            guard try run(step, in: directory) == 0 else { throw NemoError(kind: .usage, message: "failed: \(step.joined(separator: " "))") }
        }
        let script = """
            import http.server, ssl, sys
            class H(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    body = b'{"code":0,"message":"success","data":{"available":7,"frozen":0,"total":7}}'
                    self.send_response(200); self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
                def log_message(self, *a): pass
            s = http.server.HTTPServer(('127.0.0.1', 0), H)
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('server.pem', 'server.key')
            s.socket = c.wrap_socket(s.socket, server_side=True)
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """
        try script.write(to: directory.appendingPathComponent("server.py"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "server.py"]
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw NemoError(kind: .usage, message: "the HTTPS test server did not start")
        }
        return LocalHTTPSServer(process: process, port: port, caFile: directory.appendingPathComponent("ca.pem").path, directory: directory)
    }

    func stop() {
        // SIGKILL and a bounded wait: Foundation's waitUntilExit can hang here.
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<200 where process.isRunning { usleep(10_000) }
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite("TLS")
struct TLSTests {
    @Test("Peer verification: accepted with the test CA, refused without it")
    func verification() async throws {
        let server = try LocalHTTPSServer.start()
        defer { server.stop() }
        let url = "https://127.0.0.1:\(server.port)/api/credits/balance/simple"

        let trusting = CurlTransport(options: .init(caFile: server.caFile))
        let response = try await trusting.send(ClientRequest(method: "GET", url: url))
        #expect(response.status == 200)
        trusting.shutdown()

        let strict = CurlTransport()
        do {
            _ = try await strict.send(ClientRequest(method: "GET", url: url))
            Issue.record("a certificate from an unknown CA was accepted")
        } catch let error as TransportError {
            #expect(error.kind == .tls, "\(error)")
        }
        strict.shutdown()

        // The typed client over TLS, with the CA.
        let client = NemoClient(configuration: ClientConfiguration(
            baseURL: "https://127.0.0.1:\(server.port)", token: "nmv_usr_test", transport: .init(caFile: server.caFile)))
        #expect(try await client.credits().available == 7)
    }
}
