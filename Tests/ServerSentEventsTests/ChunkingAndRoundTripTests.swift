import ServerSentEvents
import Testing

/// Streams that exercise every rule, each to be split at every byte position.
let chunkingStreams: [[UInt8]] = {
    let texts = [
        "data: a\n\ndata: b\n\n",
        "data: a\r\rdata: b\r\r",
        "data: a\r\ndata: b\r\n\r\nid: 3\r\nevent: x\r\ndata: c\r\n\r\n",
        ": heartbeat\n\n:\r\ndata: {\"type\":\"text\",\"content\":\"héllo wörld ✓\"}\n\n",
        "retry: 2000\nid: 1\ndata: x\ndata: y\n\nid: 2\u{0}\ndata: z\n\ndata: tail",
        "event: tool_result\nid: 9\ndata: {\"type\":\"tool_result\",\"name\":\"edit\",\"result\":{}}\r\n\r\n: ping\r\r\n",
    ]
    var streams = texts.map { Array($0.utf8) }
    streams.append([0xEF, 0xBB, 0xBF] + Array("data: bom\r\n\r\n".utf8))
    streams.append(Array("data: ".utf8) + [0xE2, 0x82] + Array("\ndata: €\n\n".utf8))
    return streams
}()

@Suite("Chunking and round trips")
struct ChunkingAndRoundTripTests {
    @Test("Every split position gives the same items as one piece", arguments: chunkingStreams.indices)
    func everySplitPosition(streamIndex: Int) {
        let stream = chunkingStreams[streamIndex]
        let whole = parseAll(stream)
        #expect(!whole.isEmpty)
        for split in 0...stream.count {
            var parser = ServerSentEventParser()
            var items = parser.feed(stream[..<split])
            items += parser.feed(stream[split...])
            parser.finish()
            #expect(items == whole, "split at byte \(split) of stream \(streamIndex)")
        }
    }

    @Test("Every pair of split positions gives the same items", arguments: chunkingStreams.indices)
    func everyPairOfSplitPositions(streamIndex: Int) {
        let stream = chunkingStreams[streamIndex]
        let whole = parseAll(stream)
        for first in 0...stream.count {
            for second in first...stream.count {
                var parser = ServerSentEventParser()
                var items = parser.feed(stream[..<first])
                items += parser.feed(stream[first..<second])
                items += parser.feed(stream[second...])
                #expect(items == whole, "splits at \(first) and \(second) of stream \(streamIndex)")
            }
        }
    }

    @Test("Byte by byte gives the same items", arguments: chunkingStreams.indices)
    func byteByByte(streamIndex: Int) {
        let stream = chunkingStreams[streamIndex]
        var parser = ServerSentEventParser()
        var items: [ServerSentEventItem] = []
        for byte in stream { items += parser.feed([byte]) }
        #expect(items == parseAll(stream))
    }

    @Test("Encoder output reads back as the same events")
    func encoderRoundTrip() {
        let cases: [(data: String, type: String?, id: String?)] = [
            ("plain", nil, nil),
            ("two\nlines", "tool_call", "1"),
            ("", nil, "2"),
            (" leading space", nil, nil),
            ("{\"type\":\"text\",\"content\":\"ünïcødé ✓\"}", "message", "3"),
            ("trailing newline\n", nil, "4"),
            (": not a comment", nil, nil),
        ]
        var stream = ""
        var expected: [ServerSentEventItem] = []
        var lastID = ""
        for item in cases {
            stream += ServerSentEventEncoder.encode(data: item.data, type: item.type, id: item.id)
            if let id = item.id { lastID = id }
            expected.append(.event(ServerSentEvent(type: item.type ?? "message", data: item.data, lastEventID: lastID)))
        }
        stream += ServerSentEventEncoder.comment("heartbeat")
        expected.append(.comment("heartbeat"))
        stream += ServerSentEventEncoder.retry(milliseconds: 3000)
        expected.append(.retry(3000))
        #expect(parseAll(stream) == expected)
    }

    @Test("CR and CRLF in data read back as LF")
    func encoderNormalisesLineEnds() {
        let text = ServerSentEventEncoder.encode(data: "a\r\nb\rc")
        #expect(events(parseAll(text)).map(\.data) == ["a\nb\nc"])
    }

    @Test("Line breaks and NUL cannot leak out of event and id fields")
    func encoderSanitisesFields() {
        let text = ServerSentEventEncoder.encode(data: "x", type: "a\nb", id: "1\r\n2\u{0}")
        #expect(events(parseAll(text)) == [ServerSentEvent(type: "ab", data: "x", lastEventID: "12")])
    }

    @Test("Memory stays proportional to the longest event, not the stream")
    func memoryBoundedByLongestEvent() {
        var parser = ServerSentEventParser()
        let small = Array(ServerSentEventEncoder.encode(data: String(repeating: "x", count: 1000), id: "1").utf8)
        // 4 MB of small events in 997-byte chunks (lines split across chunks).
        let stream = Array((0..<4000).map { _ in small }.joined())
        var count = 0
        var peak = 0
        var offset = 0
        while offset < stream.count {
            let end = min(offset + 997, stream.count)
            parser.feed(stream[offset..<end]).forEach { if case .event = $0 { count += 1 } }
            peak = max(peak, parser.bufferedByteCount)
            offset = end
        }
        #expect(count == 4000)
        #expect(peak < 16 * 1024, "peak buffer \(peak) bytes for 1 kB events")

        // One 1 MB event needs about 1 MB, and gives it back after dispatch.
        let big = Array(ServerSentEventEncoder.encode(data: String(repeating: "y", count: 1 << 20)).utf8)
        var bigCount = 0
        var bigPeak = 0
        offset = 0
        while offset < big.count {
            let end = min(offset + 65536, big.count)
            parser.feed(big[offset..<end]).forEach { if case .event = $0 { bigCount += 1 } }
            bigPeak = max(bigPeak, parser.bufferedByteCount)
            offset = end
        }
        #expect(bigCount == 1)
        #expect(bigPeak >= 1 << 20)
        #expect(parser.bufferedByteCount < 1 << 17)
    }
}
