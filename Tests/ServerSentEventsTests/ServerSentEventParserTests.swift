import ServerSentEvents
import Testing

/// Parses `bytes` fed in one piece, then ends the stream.
func parseAll(_ bytes: [UInt8]) -> [ServerSentEventItem] {
    var parser = ServerSentEventParser()
    let items = parser.feed(bytes)
    parser.finish()
    return items
}

func parseAll(_ text: String) -> [ServerSentEventItem] { parseAll(Array(text.utf8)) }

func events(_ items: [ServerSentEventItem]) -> [ServerSentEvent] {
    items.compactMap { if case .event(let event) = $0 { return event } else { return nil } }
}

@Suite("WHATWG event-stream interpretation rules")
struct ServerSentEventParserRuleTests {
    @Test("LF ends lines")
    func lineFeed() {
        #expect(events(parseAll("data: a\n\ndata: b\n\n")).map(\.data) == ["a", "b"])
    }

    @Test("CR alone ends lines")
    func carriageReturn() {
        #expect(events(parseAll("data: a\r\rdata: b\r\r")).map(\.data) == ["a", "b"])
    }

    @Test("CRLF ends lines, counted once")
    func crlf() {
        #expect(events(parseAll("data: a\r\ndata: b\r\n\r\n")).map(\.data) == ["a\nb"])
    }

    @Test("A CRLF split across two chunks is one line end")
    func crlfSplitAcrossChunks() {
        var parser = ServerSentEventParser()
        var items = parser.feed(Array("data: a\r".utf8))
        items += parser.feed(Array("\ndata: b\r".utf8))
        items += parser.feed(Array("\n\r".utf8))
        items += parser.feed(Array("\n".utf8))
        #expect(events(items).map(\.data) == ["a\nb"])
    }

    @Test("A leading UTF-8 BOM is stripped once")
    func byteOrderMarkStrippedOnce() {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let once = events(parseAll(bom + Array("data: x\n\n".utf8)))
        #expect(once.map(\.data) == ["x"])
        // A second BOM is part of the first line: the field name is then not "data".
        let twice = events(parseAll(bom + bom + Array("data: x\n\n".utf8)))
        #expect(twice.isEmpty)
    }

    @Test("A BOM split across chunks is still stripped")
    func byteOrderMarkSplit() {
        var parser = ServerSentEventParser()
        var items = parser.feed([0xEF])
        items += parser.feed([0xBB])
        items += parser.feed([0xBF] + Array("data: y\n\n".utf8))
        #expect(events(items).map(\.data) == ["y"])
    }

    @Test("Comment lines are surfaced, not dispatched")
    func comments() {
        let items = parseAll(": heartbeat\n:\n:no-space\ndata: a\n\n")
        #expect(items == [.comment("heartbeat"), .comment(""), .comment("no-space"), .event(.init(data: "a"))])
    }

    @Test("Data lines are joined with LF, the trailing LF removed")
    func dataJoined() {
        #expect(events(parseAll("data: one\ndata:two\ndata\ndata:  three\n\n")).map(\.data) == ["one\ntwo\n\n three"])
    }

    @Test("One space after the colon is removed, not more")
    func singleLeadingSpace() {
        #expect(events(parseAll("data:  x\n\n")).map(\.data) == [" x"])
    }

    @Test("The event field sets the type; default is message; reset after dispatch")
    func eventType() {
        let parsed = events(parseAll("event: tool\ndata: a\n\ndata: b\n\n"))
        #expect(parsed.map(\.type) == ["tool", "message"])
    }

    @Test("The id field sets the last event ID, which persists across events")
    func lastEventIDPersists() {
        let parsed = events(parseAll("id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"))
        #expect(parsed.map(\.lastEventID) == ["7", "7", ""])
    }

    @Test("An id containing NUL is ignored")
    func idWithNULIgnored() {
        let parsed = events(parseAll("id: 1\ndata: a\n\nid: 2\u{0}x\ndata: b\n\n"))
        #expect(parsed.map(\.lastEventID) == ["1", "1"])
    }

    @Test("An id field without data still sets the last event ID")
    func idWithoutDataApplies() {
        var parser = ServerSentEventParser()
        let items = parser.feed(Array("id: 42\n\ndata: a\n\n".utf8))
        #expect(events(items).map(\.lastEventID) == ["42"])
        #expect(parser.lastEventID == "42")
    }

    @Test("retry takes ASCII digits only")
    func retryDigitsOnly() {
        var parser = ServerSentEventParser()
        let items = parser.feed(Array("retry: 1500\nretry: 12a\nretry: -5\nretry:\nretry: ٣\n".utf8))
        #expect(items == [.retry(1500)])
        #expect(parser.reconnectionTime == 1500)
    }

    @Test("A blank line with no data dispatches nothing and resets the type")
    func blankLineWithoutData() {
        let parsed = events(parseAll("event: x\n\ndata: a\n\n"))
        #expect(parsed == [ServerSentEvent(type: "message", data: "a")])
    }

    @Test("An empty data line dispatches an event with empty data")
    func emptyDataLine() {
        #expect(events(parseAll("data:\n\n")).map(\.data) == [""])
    }

    @Test("An unterminated last event is not dispatched at end of stream")
    func unterminatedEventDiscarded() {
        #expect(events(parseAll("data: a\n\ndata: b\n")).map(\.data) == ["a"])
        #expect(events(parseAll("data: a\n\ndata: b")).map(\.data) == ["a"])
    }

    @Test("Unknown fields and lines without a colon are ignored")
    func unknownFields() {
        #expect(events(parseAll("foo: bar\nevent\nDATA: x\ndata: a\n\n")) == [ServerSentEvent(data: "a")])
    }

    @Test("Invalid UTF-8 is replaced with U+FFFD, not fatal")
    func invalidUTF8Replaced() {
        let bytes: [UInt8] = Array("data: a".utf8) + [0xFF, 0xC3] + Array("b\n\n".utf8)
        let parsed = events(parseAll(bytes))
        #expect(parsed.count == 1)
        #expect(parsed.first?.data.hasPrefix("a\u{FFFD}") == true)
        #expect(parsed.first?.data.hasSuffix("b") == true)
    }

    @Test("Field names are case-sensitive and the colon may be absent")
    func fieldWithoutColon() {
        // "data" alone is a data field with an empty value.
        #expect(events(parseAll("data\ndata\n\n")).map(\.data) == ["\n"])
    }
}
