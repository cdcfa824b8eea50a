import Foundation
import NemoCore
import NemoReports

/// A recording as one self-contained HTML page (`nemosim recording show
/// --html FILE -o PAGE.html`): every exchange a row on one time axis, each
/// event of a stream a mark at its recorded offset, the stream's ending,
/// gaps longer than the heartbeat interval, and, on a click, the request and
/// response (redacted). No network fetch: styles and the few lines of
/// script are in the page, and its Content-Security-Policy forbids the rest.
public enum TimelinePage {
    /// What the page is made with.
    public struct Options: Sendable {
        /// The page's title (the file's name).
        public var title: String
        /// The API's heartbeat interval in API seconds (15 in the default
        /// profile); divided by the recording's time scale when it has one.
        public var heartbeatSeconds: Double
        /// A gap is marked when longer than this many heartbeat intervals
        /// (recorded heartbeats come a little after their interval).
        public var gapFactor: Double = 1.5
        /// Bodies longer than this are cut in the details (with a note).
        public var bodyLimit = 16 * 1024
        /// At most this many marks per stream are drawn (the rest counted).
        public var markLimit = 5000

        public init(title: String, heartbeatSeconds: Double = 15) {
            self.title = title
            self.heartbeatSeconds = heartbeatSeconds
        }
    }

    /// The kind of a mark, its CSS class and the word in its legend.
    enum MarkKind: String, CaseIterable {
        case heartbeat, text, toolCall = "tool-call", toolResult = "tool-result", error, other

        var label: String {
            switch self {
            case .heartbeat: return "heartbeat"
            case .text: return "text"
            case .toolCall: return "tool call"
            case .toolResult: return "tool result"
            case .error: return "error"
            case .other: return "other event"
            }
        }
    }

    /// One exchange placed on the axis (milliseconds from the first request).
    struct Placed {
        var index: Int
        var entry: HAREntry
        var start: Double
        var end: Double
        var items: [RecordedStreamItem]?
    }

    /// The page.
    public static func html(_ recording: Recording, options: Options) -> String {
        let redactor = Redactor()
        let entries = recording.entries.map { RecordingWriter.redact($0, with: redactor) }
        var recording = recording
        // What the file says of itself passes through the same redactor.
        if var metadata = recording.metadata {
            metadata.target = redactor.url(metadata.target)
            metadata.scenario = metadata.scenario?.mapStrings(redactor.text)
            recording.metadata = metadata
        }
        recording.cutOff = recording.cutOff.map(redactor.text)
        let scale = recording.metadata?.timeScale.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? 1
        let heartbeatMs = options.heartbeatSeconds * 1000 / scale
        let placed = place(entries)
        let span = max(1, placed.map(\.end).max() ?? 1)
        var body = ""
        body += header(recording, options: options, count: entries.count, span: span, heartbeatMs: heartbeatMs)
        if let run = recording.metadata?.scenario { body += scenarios(run) }
        body += "<main id=\"timeline\" data-span-ms=\"\(number(span))\">\n"
        body += axis(span)
        for item in placed {
            body += row(item, span: span, heartbeatMs: heartbeatMs, options: options)
        }
        body += "</main>\n"
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
            <meta name="generator" content="nemosim \(escape(NemosimVersion.current))">
            <title>\(escape(options.title)): nemosim timeline</title>
            <style>\(style)</style>
            </head>
            <body>
            \(body)<script>\(script)</script>
            </body>
            </html>

            """
    }

    /// Each exchange's start and end from its `startedDateTime` and `time`
    /// (an unreadable date: right after the one before).
    static func place(_ entries: [HAREntry]) -> [Placed] {
        let dates = entries.map { ISO8601.date(from: $0.startedDateTime) }
        let origin = dates.compactMap { $0 }.min() ?? Date(timeIntervalSince1970: 0)
        var previousStart = 0.0
        return entries.enumerated().map { index, entry in
            let start = dates[index].map { max(0, $0.timeIntervalSince(origin) * 1000) } ?? previousStart
            previousStart = start
            let duration = entry.time.isFinite ? max(0, entry.time) : 0
            return Placed(index: index, entry: entry, start: start, end: start + duration, items: entry.replayedEventStream)
        }
    }

    static func header(_ recording: Recording, options: Options, count: Int, span: Double, heartbeatMs: Double) -> String {
        var facts: [String] = ["\(count) exchange\(count == 1 ? "" : "s")", "over \(duration(span))"]
        if let metadata = recording.metadata {
            if !metadata.target.isEmpty { facts.append("target \(escape(metadata.target))") }
            if !metadata.createdAt.isEmpty { facts.append("made \(escape(metadata.createdAt))") }
            if let scale = metadata.timeScale, scale != 1 { facts.append("time scale \(number(scale))") }
        }
        facts.append("heartbeat interval \(duration(heartbeatMs)); gaps over \(number(options.gapFactor))× marked")
        var text = "<header>\n<h1>\(escape(options.title))</h1>\n<p class=\"facts\">\(facts.joined(separator: " · "))</p>\n"
        if recording.fromJournal || recording.cutOff != nil {
            text += "<p class=\"warning\">\(escape(recording.cutOff ?? "not closed: read from the journal"))</p>\n"
        }
        text += "<ul class=\"legend\">"
        for kind in MarkKind.allCases { text += "<li><span class=\"mark \(kind.rawValue)\"></span>\(kind.label)</li>" }
        text += "<li><span class=\"gap\"></span>gap</li><li><span class=\"end\"></span>stream end</li></ul>\n"
        text += "<p class=\"hint\">Click a row for its request and response (secrets redacted). "
        text += "<label><input type=\"checkbox\" id=\"hide-admin\"> hide the simulator's admin calls (/_nemosim/)</label></p>\n</header>\n"
        return text
    }

    static func scenarios(_ run: RunResult) -> String {
        var text = "<section id=\"scenarios\">\n<h2>Scenarios: \(run.passed) passed, \(run.failed) failed, \(run.errors) errors, \(run.skipped) skipped</h2>\n"
        for file in run.files {
            for scenario in file.scenarios {
                let status: String
                var note = ""
                switch scenario.outcome {
                case .passed: status = "passed"
                case .failed(let failure):
                    status = "failed"
                    note = "\(failure.step): \(failure.message) (expected \(failure.expected), got \(failure.actual))"
                case .skipped(let reason):
                    status = "skipped"
                    note = reason
                case .error(let message):
                    status = "error"
                    note = message
                }
                text += "<details class=\"scenario \(status)\" data-status=\"\(status)\"><summary><span class=\"status\">\(status)</span> "
                text += "\(escape(file.file)): \(escape(scenario.name)) <span class=\"time\">\(duration(scenario.duration * 1000))</span></summary>\n"
                if !note.isEmpty { text += "<p class=\"note\">\(escape(note))</p>\n" }
                if !scenario.log.isEmpty {
                    text += "<ol class=\"steps\">" + scenario.log.map { "<li>\(escape($0))</li>" }.joined() + "</ol>\n"
                }
                text += "</details>\n"
            }
        }
        return text + "</section>\n"
    }

    /// Ticks at a round step, about ten across.
    static func axis(_ span: Double) -> String {
        let rough = span / 10
        let magnitude = pow(10, floor(log10(max(rough, 0.001))))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? rough
        var text = "<div class=\"axis\"><div class=\"label\">time from the first request</div><div class=\"track\">"
        var tick = 0.0
        while tick <= span + step / 1000 {
            text += "<span class=\"tick\" style=\"left:\(percent(tick, span))\">\(duration(tick))</span>"
            tick += step
        }
        return text + "</div></div>\n"
    }

    static func row(_ item: Placed, span: Double, heartbeatMs: Double, options: Options) -> String {
        let entry = item.entry
        let n = item.index + 1
        let path = URLComponents(string: entry.request.url)?.path ?? entry.request.url
        let code = entry.envelopeCode.map { " code \($0)" } ?? ""
        let stream = item.items != nil
        let status = entry.response.status
        let tone = status == 0 ? "failed" : status >= 500 ? "server-error" : status >= 400 ? "client-error" : "ok"
        let admin = path.hasPrefix("/_nemosim/") && !path.hasPrefix("/_nemosim/media/")
        var text = "<div class=\"row \(tone)\(stream ? " stream" : "")\(admin ? " admin" : "")\" id=\"row-\(n)\" data-n=\"\(n)\" data-method=\"\(escape(entry.request.method))\" "
        text += "data-path=\"\(escape(path))\" data-status=\"\(status)\" data-start-ms=\"\(number(item.start))\" data-time-ms=\"\(number(entry.time))\" "
        text += "data-events=\"\(item.items?.count ?? 0)\" tabindex=\"0\" role=\"button\" aria-expanded=\"false\" aria-controls=\"detail-\(n)\">"
        text += "<div class=\"label\" title=\"\(escape(entry.request.method + " " + entry.request.url))\"><span class=\"n\">\(n)</span>"
        text += "<span class=\"method\">\(escape(entry.request.method))</span><span class=\"path\">\(escape(path))</span>"
        text += "<span class=\"status\">→ \(status)\(code)</span><span class=\"time\">\(duration(entry.time))</span></div>"
        text += "<div class=\"track\"><span class=\"bar\" style=\"left:\(percent(item.start, span));width:\(percent(item.end - item.start, span))\"></span>"
        var drawn = 0
        if let items = item.items {
            // Gaps: from the stream's start to its first item, between items, and to its end.
            var moments = [0.0] + items.map(\.offsetMs)
            let closedAt = max(entry.time, moments.last ?? 0)
            moments.append(closedAt)
            var gaps = 0
            for (from, to) in zip(moments, moments.dropFirst()) where heartbeatMs > 0 && to - from > heartbeatMs * options.gapFactor {
                gaps += 1
                if gaps > options.markLimit { break }
                text += "<span class=\"gap\" style=\"left:\(percent(item.start + from, span));width:\(percent(to - from, span))\" "
                text += "title=\"no event for \(duration(to - from)) (heartbeat interval \(duration(heartbeatMs)))\"></span>"
            }
            for event in items.prefix(options.markLimit) {
                let (kind, summary) = classify(event)
                text += "<span class=\"mark \(kind.rawValue)\" style=\"left:\(percent(item.start + event.offsetMs, span))\" "
                text += "data-offset-ms=\"\(number(event.offsetMs))\" title=\"+\(duration(event.offsetMs)) \(escape(String(summary.prefix(160))))\"></span>"
                drawn += 1
            }
            let ending = streamEnding(entry, items: items)
            text += "<span class=\"end \(ending.kind)\" style=\"left:\(percent(item.start + closedAt, span))\" title=\"\(escape(ending.text))\"></span>"
        }
        text += "</div></div>\n"
        text += detail(item, n: n, drawn: drawn, options: options)
        return text
    }

    /// How a stream ended: closed after text, closed silently (no text:
    /// the state says what happened), left by the client, cut off.
    static func streamEnding(_ entry: HAREntry, items: [RecordedStreamItem]) -> (kind: String, text: String) {
        switch entry.ending {
        case .dropped(let why)?: return ("dropped", "cut off: \(why)")
        case .failed(let why)?: return ("dropped", "failed: \(why)")
        case .cancelled?: return ("cancelled", "left by the client after \(duration(entry.time))")
        case .closed?, nil:
            let last = items.last { classify($0).kind != .heartbeat }
            if let last, classify(last).kind == .text { return ("closed", "closed after text") }
            return ("silent", "closed silently (no text after the last tool event)")
        }
    }

    /// A stream item's mark kind and its one-line summary.
    static func classify(_ item: RecordedStreamItem) -> (kind: MarkKind, summary: String) {
        switch item.kind {
        case .comment: return (.heartbeat, item.summary)
        case .retry: return (.other, item.summary)
        case .event:
            let events = AgentEventDecoder.events(fromData: item.data ?? "")
            var kind = events.isEmpty ? MarkKind.heartbeat : .other
            for event in events {
                switch event {
                case .text: kind = .text
                case .toolCall: if kind != .text { kind = .toolCall }
                case .toolResult: if kind != .text && kind != .toolCall { kind = .toolResult }
                case .heartbeat: if events.count == 1 { kind = .heartbeat }
                case .error: kind = .error
                case .unknown: break
                }
            }
            return (kind, item.summary)
        }
    }

    static func detail(_ item: Placed, n: Int, drawn: Int, options: Options) -> String {
        let entry = item.entry
        var text = "<section class=\"detail\" id=\"detail-\(n)\" hidden>\n<h3>Request</h3>\n<pre>"
        text += escape("\(entry.request.method) \(entry.request.url)\n")
        for header in entry.request.headers { text += escape("\(header.name): \(header.value)\n") }
        if let post = entry.request.postData {
            text += escape("\n" + bodyText(post.text, limit: options.bodyLimit))
            if let params = post.params, !params.isEmpty {
                text += escape("\n(parts: " + params.map { "\($0.name)\($0.fileName.map { " file \($0)" } ?? "")" }.joined(separator: ", ") + ")")
            }
        }
        text += "</pre>\n<h3>Response: \(entry.response.status) \(escape(entry.response.statusText)), \(duration(entry.time))"
        text += entry.ending.map { " (\(escape($0.description)))" } ?? ""
        text += "</h3>\n<pre>"
        for header in entry.response.headers { text += escape("\(header.name): \(header.value)\n") }
        if let items = item.items {
            text += "</pre>\n<ol class=\"events\">"
            for event in items.prefix(options.markLimit) {
                text += "<li><span class=\"offset\">+\(duration(event.offsetMs))</span> \(escape(classify(event).summary))</li>"
            }
            if items.count > drawn { text += "<li>… \(items.count - drawn) more events not drawn</li>" }
            text += "</ol>\n"
        } else if entry.response.content.encoding == "base64" {
            text += escape("\n(\(entry.response.content.size) bytes, binary)") + "</pre>\n"
        } else {
            text += escape("\n" + bodyText(entry.response.content.text ?? "", limit: options.bodyLimit)) + "</pre>\n"
        }
        return text + "</section>\n"
    }

    static func bodyText(_ text: String, limit: Int) -> String {
        if text.utf8.count <= limit { return text }
        let kept = String(decoding: text.utf8.prefix(limit), as: UTF8.self)
        return kept + "\n… (\(text.utf8.count - limit) more bytes)"
    }

    static func percent(_ value: Double, _ span: Double) -> String {
        String(format: "%.4f%%", min(100, max(0, value / span * 100)))
    }

    static func number(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int(value)) }
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }

    /// `850 ms`, `12.4 s`, `3 min 05 s`.
    static func duration(_ ms: Double) -> String {
        if !ms.isFinite { return "?" }
        if ms == 0 { return "0" }
        if abs(ms) < 1000 { return String(format: abs(ms) < 10 ? "%.1f ms" : "%.0f ms", ms) }
        // Any number a file gives stays printable (no trap turning it into an Int).
        let seconds = min(max(ms / 1000, -1e12), 1e12)
        if seconds < 0 { return String(format: "%.1f s", seconds) }
        if seconds < 120 { return String(format: "%.1f s", seconds) }
        return String(format: "%d min %02d s", Int(seconds) / 60, Int(seconds) % 60)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    static let style = """
        body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#fff}
        header{padding:12px 16px;border-bottom:1px solid #dde}
        h1{font-size:17px;margin:0 0 4px}h2{font-size:14px;margin:8px 0}h3{font-size:12px;margin:8px 0 2px}
        .facts,.hint{margin:2px 0;color:#555}.warning{color:#a40;font-weight:600}
        .legend{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:14px}
        .legend li{display:flex;align-items:center;gap:5px}.legend .mark,.legend .gap,.legend .end{position:static;display:inline-block}
        .legend .gap{width:18px;height:8px}
        #scenarios{padding:4px 16px;border-bottom:1px solid #dde}
        .scenario summary{cursor:pointer}.scenario .status{display:inline-block;min-width:52px;font-weight:600}
        .scenario.passed .status{color:#17803d}.scenario.failed .status,.scenario.error .status{color:#c0262d}.scenario.skipped .status{color:#777}
        .steps{margin:2px 0 6px;color:#333}.note{margin:2px 0;color:#c0262d}
        main{padding:4px 16px 24px}
        .row,.axis{display:grid;grid-template-columns:minmax(260px,34%) 1fr;align-items:center;min-height:20px;border-bottom:1px solid #f0f0f4}
        .row{cursor:pointer}.row:hover,.row:focus{background:#f4f7ff;outline:none}
        .label{display:flex;gap:6px;white-space:nowrap;padding-right:8px;font-family:ui-monospace,monospace;font-size:12px;min-width:0}
        .label>span{flex:none}.label>.path{flex:0 1 auto;min-width:0;overflow:hidden;text-overflow:ellipsis}
        .n{color:#999;min-width:26px;text-align:right}.method{font-weight:600}.time{color:#777}
        body.hide-admin .row.admin,body.hide-admin .row.admin+.detail{display:none}
        .row.client-error .status{color:#b35c00}.row.server-error .status,.row.failed .status{color:#c0262d}
        .track{position:relative;height:18px}
        .axis .track{height:16px;border-bottom:1px solid #bbc}.axis .label{color:#777;font-family:inherit}
        .tick{position:absolute;top:0;font-size:10px;color:#777;border-left:1px solid #bbc;padding-left:2px;height:15px}
        .bar{position:absolute;top:6px;height:6px;min-width:2px;background:#9bb3d9;border-radius:2px}
        .row.stream .bar{background:#d6e2f5}
        .mark{position:absolute;top:3px;width:3px;height:12px;margin-left:-1px;border-radius:1px}
        .mark.heartbeat{background:#b7bcc6;width:2px}.mark.text{background:#17803d}.mark.tool-call{background:#6a3fc1}
        .mark.tool-result{background:#1f77b4}.mark.error{background:#c0262d}.mark.other{background:#e3a21a}
        .gap{position:absolute;top:4px;height:10px;background:repeating-linear-gradient(45deg,#f6c7c9 0 3px,#fff 3px 6px);border:1px solid #e08a8e;box-sizing:border-box}
        .end{position:absolute;top:1px;width:0;height:0;border:6px solid transparent;border-left-color:#1d2330;margin-left:-1px}
        .end.silent{border-left-color:#e3a21a}.end.dropped{border-left-color:#c0262d}.end.cancelled{border-left-color:#777}
        .detail{background:#f8f9fb;border:1px solid #dde;margin:2px 0 8px;padding:4px 10px}
        .detail pre{white-space:pre-wrap;word-break:break-all;font-size:12px;margin:0;max-height:360px;overflow:auto}
        .events{font-family:ui-monospace,monospace;font-size:12px;max-height:300px;overflow:auto;margin:0}.offset{color:#777}
        """

    static let script = """
        const hideAdmin = document.getElementById('hide-admin');
        const showAdmin = () => document.body.classList.toggle('hide-admin', hideAdmin.checked);
        hideAdmin.checked = location.hash === '#hide-admin';
        hideAdmin.addEventListener('change', showAdmin);
        showAdmin();
        document.body.dataset.rows = document.querySelectorAll('.row').length;
        document.body.dataset.marks = document.querySelectorAll('.row .mark').length;
        for (const row of document.querySelectorAll('.row')) {
          const toggle = () => {
            const detail = document.getElementById('detail-' + row.dataset.n);
            detail.hidden = !detail.hidden;
            row.setAttribute('aria-expanded', String(!detail.hidden));
          };
          row.addEventListener('click', toggle);
          row.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(); } });
        }
        """
}

extension Recording {
    /// When each exchange started, in milliseconds from the first (from
    /// `startedDateTime`; an unreadable date: when the one before started).
    public var startOffsetsMs: [Double] { TimelinePage.place(entries).map(\.start) }
}

extension HAREntry {
    /// The response body as recorded (base64 decoded).
    public var responseBody: Data {
        guard let text = response.content.text else { return Data() }
        if response.content.encoding == "base64" { return Data(base64Encoded: text) ?? Data() }
        return Data(text.utf8)
    }

    /// The envelope code of a JSON answer (`{"code": ...}`), when it has one.
    public var envelopeCode: Int? {
        let body = responseBody
        guard body.first == UInt8(ascii: "{") else { return nil }
        return (try? JSONValue.parse(body))?["code"]?.intValue
    }
}

extension RecordedStreamItem {
    /// One line saying what the item is (`recording show`, the timeline
    /// page): `heartbeat`, `tool_call NAME`, `text: ...`, `error: ...`.
    public var summary: String {
        if kind == .comment { return "heartbeat (comment)" }
        if kind == .retry { return "retry \(data ?? "")" }
        let events = AgentEventDecoder.events(fromData: data ?? "")
        return events.map { event in
            switch event {
            case .text(let text): return "text: \(text.prefix(80))"
            case .toolCall(let name, _): return "tool_call \(name)"
            case .toolResult(let name, _): return "tool_result \(name)"
            case .heartbeat: return "heartbeat"
            case .error(let message, _): return "error: \(message)"
            case .unknown(let raw): return "unknown: \(raw.prefix(60))"
            }
        }.joined(separator: "; ")
    }
}
