import Foundation
import NIOCore
import NemoCore
import Testing

@testable import NemoSimulator

/// A multipart body of two parts (a file and a field).
private let body = Array(
    ("preamble to ignore\r\n--B0undary\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
        + "0123456789\r\n--B0undarx is not the boundary\r\n"
        + "\r\n--B0undary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--B0undary--\r\nepilogue").utf8)

/// What the parser reports, flattened: each part's headers and its bytes.
private func parse(_ chunks: [ArraySlice<UInt8>]) throws -> (parts: [(headers: [String], bytes: [UInt8])], complete: Bool) {
    var parser = MultipartStreamParser(boundary: "B0undary")
    var parts: [(headers: [String], bytes: [UInt8])] = []
    for chunk in chunks {
        try parser.feed(chunk) { event in
            switch event {
            case .partStart(let headers): parts.append((headers.map { "\($0.name): \($0.value)" }, []))
            case .partData(let bytes): parts[parts.count - 1].bytes += bytes
            case .partEnd: break
            }
        }
    }
    return (parts, parser.isComplete)
}

@Suite("The streaming multipart parser")
struct MultipartTests {
    @Test("Any chunking gives the same parts: split at every byte, and byte by byte")
    func chunking() throws {
        let whole = try parse([body[...]])
        #expect(whole.complete)
        #expect(whole.parts.count == 2)
        #expect(whole.parts[0].headers == ["Content-Disposition: form-data; name=\"files\"; filename=\"a.png\"", "Content-Type: image/png"])
        #expect(String(decoding: whole.parts[0].bytes, as: UTF8.self) == "0123456789\r\n--B0undarx is not the boundary\r\n")
        #expect(String(decoding: whole.parts[1].bytes, as: UTF8.self) == "hello")
        // A boundary split across two chunks, at every position.
        for split in 1..<body.count {
            let parsed = try parse([body[..<split], body[split...]])
            #expect(parsed.complete && parsed.parts.map(\.bytes) == whole.parts.map(\.bytes) && parsed.parts.map(\.headers) == whole.parts.map(\.headers),
                "split at \(split)")
        }
        let bytewise = try parse(body.indices.map { body[$0...$0] })
        #expect(bytewise.complete && bytewise.parts.map(\.bytes) == whole.parts.map(\.bytes))
    }

    @Test("It holds no more than a delimiter's length of a part, however large the part")
    func bounded() throws {
        var parser = MultipartStreamParser(boundary: "B")
        var received = 0
        try parser.feed(Array("--B\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.mp4\"\r\n\r\n".utf8)) { _ in }
        let megabyte = [UInt8](repeating: 0x41, count: 1 << 20)
        for _ in 0..<8 {
            try parser.feed(megabyte) { if case .partData(let bytes) = $0 { received += bytes.count } }
        }
        #expect(received >= 8 * (1 << 20) - 4, "all but a delimiter's length handed on")
    }

    @Test("Malformed input is an error, never a crash: header lines without a colon, endless headers")
    func malformed() {
        var noColon = MultipartStreamParser(boundary: "B")
        #expect(throws: MultipartStreamParser.ParseError.self) {
            try noColon.feed(Array("--B\r\nnot a header\r\n\r\nx".utf8)) { _ in }
        }
        var endless = MultipartStreamParser(boundary: "B")
        #expect(throws: MultipartStreamParser.ParseError.self) {
            try endless.feed(Array("--B\r\n".utf8) + [UInt8](repeating: 0x61, count: 20_000)) { _ in }
        }
    }

    @Test("The boundary of a content type: quoted or not, 1 to 70 characters, multipart/form-data only")
    func boundary() {
        #expect(MultipartStreamParser.boundary(fromContentType: "multipart/form-data; boundary=abc") == "abc")
        #expect(MultipartStreamParser.boundary(fromContentType: "Multipart/Form-Data;boundary=\"a b\"") == "a b")
        #expect(MultipartStreamParser.boundary(fromContentType: "multipart/mixed; boundary=abc") == nil)
        #expect(MultipartStreamParser.boundary(fromContentType: "multipart/form-data") == nil)
        #expect(MultipartStreamParser.boundary(fromContentType: "multipart/form-data; boundary=" + String(repeating: "x", count: 71)) == nil)
    }
}

@Suite("Content-Disposition of a multipart part")
struct ContentDispositionTests {
    @Test("Quoted, bare and escaped values; names lower-cased")
    func plain() {
        let quoted = ContentDisposition(#"form-data; name="files"; filename="a \"b\".png""#)
        #expect(quoted.type == "form-data" && quoted.name == "files" && quoted.filename == #"a "b".png"#)
        let bare = ContentDisposition("Form-Data; NAME=files; filename=clip.mp4")
        #expect(bare.type == "form-data" && bare.name == "files" && bare.filename == "clip.mp4")
        let semicolon = ContentDisposition(#"form-data; name="files"; filename="a;b.png""#)
        #expect(semicolon.filename == "a;b.png")
        #expect(ContentDisposition("").name == nil && ContentDisposition("form-data; =x; ;").parameters.isEmpty)
    }

    @Test("filename* (RFC 5987) is decoded and wins over filename; another charset or a broken encoding is left out")
    func extended() {
        let both = ContentDisposition("form-data; name=\"files\"; filename=\"fallback.png\"; filename*=UTF-8''na%C3%AFve%20clip.png")
        #expect(both.filename == "naïve clip.png")
        let onlyExtended = ContentDisposition("form-data; name=files; filename*=utf-8'en'%E3%82%AF%E3%83%AA%E3%83%83%E3%83%97.mp4")
        #expect(onlyExtended.filename == "クリップ.mp4")
        let latin = ContentDisposition("form-data; name=files; filename=\"plain.png\"; filename*=ISO-8859-1''caf%E9.png")
        #expect(latin.filename == "plain.png")
        let broken = ContentDisposition("form-data; name=files; filename=\"plain.png\"; filename*=UTF-8''bad%ZZ.png")
        #expect(broken.filename == "plain.png")
        let invalidUTF8 = ContentDisposition("form-data; name=files; filename=\"plain.png\"; filename*=UTF-8''%FF%FE.png")
        #expect(invalidUTF8.filename == "plain.png")
    }
}
