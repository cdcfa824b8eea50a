import Foundation
import NemoCore

/// What a message asks of the agent, read with keyword rules: a duration,
/// an aspect ratio, a title (in any quotes), music on or off or another
/// track, a volume, a length. Both a generation and an edit are planned
/// from it (``DraftEditor``).
struct MessageIntent: Sendable, Equatable {
    enum Volume: Sendable, Equatable {
        case up, down
        case set(Double)
    }

    enum Length: Sendable, Equatable {
        /// Trim to T seconds (only ever shorter).
        case trimTo(Double)
        /// Make it T seconds, shorter or longer.
        case setTo(Double)
        /// Cut T seconds off the end.
        case cutOff(Double)
        case shorter, longer
    }

    /// Seconds, 1 to 600.
    var duration: Double?
    var aspect: Canvas?
    var title: String?
    var removeTitle = false
    var musicOff = false
    var musicOn = false
    /// Another track than the one there.
    var musicChange = false
    /// A track named in quotes or by style.
    var musicName: String?
    var volume: Volume?
    var length: Length?
    /// A new video asked for in so many words.
    var newVideo = false
    /// Words of the message, lower-cased (for classifying it; an operation
    /// keeps its intent without them, see ``forgettingWords()``).
    var words: Set<String>
    /// The message says "title" (what the edit rules still ask once the
    /// words are gone).
    private(set) var mentionsTitle = false

    /// Whether the message asks for an edit these rules know how to make.
    var recognisedEdit: Bool {
        title != nil || removeTitle || musicOff || musicOn || musicChange || volume != nil || length != nil
    }

    /// This intent without its word set: what an operation keeps (every
    /// message of a session is kept, and a set of words is a few hundred
    /// bytes that nothing reads after classification).
    func forgettingWords() -> MessageIntent {
        var intent = self
        intent.words = []
        return intent
    }

    init(_ message: String) {
        let lower = message.lowercased()
        words = Set(lower.split { !$0.isLetter && !$0.isNumber }.map(String.init))
        mentionsTitle = words.contains("title")
        duration = Self.duration(in: lower)
        aspect = Self.aspect(in: lower, words: words)
        title = Self.title(in: message)
        newVideo = Self.newVideo(in: lower, words: words)
        let musicWords: Set<String> = ["music", "bgm", "soundtrack", "song", "audio"]
        let mentionsMusic = !words.isDisjoint(with: musicWords) || lower.contains("音乐")
        if mentionsMusic {
            let off = ["remove", "delete", "drop", "no", "without", "mute"]
            musicOff = !words.isDisjoint(with: off) || lower.contains("turn off") || lower.contains("get rid of")
            musicChange = !musicOff && !words.isDisjoint(with: ["change", "replace", "different", "another", "swap", "new"])
            musicOn = !musicOff && !musicChange && !words.isDisjoint(with: ["add", "put", "with", "include", "use", "some"])
            if !musicOff {
                musicName = Self.quoted(in: message) ?? Self.musicStyle(words)
                if musicName != nil && !musicOn && !musicChange { musicChange = true }
            }
        }
        if !words.isDisjoint(with: ["title", "caption", "captions", "text", "subtitle", "subtitles"]) || lower.contains("标题") {
            removeTitle = !words.isDisjoint(with: ["remove", "delete", "drop"]) && title == nil
        }
        // A music name in quotes is no title.
        if title != nil && musicName == title && mentionsMusic && words.isDisjoint(with: ["title", "titled", "caption", "called", "says", "saying"]) {
            title = nil
        }
        volume = Self.volume(in: lower, words: words)
        length = Self.length(in: lower, words: words, duration: duration)
    }

    // MARK: Durations

    static let numberWords: [String: Double] = [
        "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
        "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
        "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90,
    ]

    private static let number = #"(\d+(?:\.\d+)?|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|ninety)"#

    private static func value(_ text: String) -> Double? {
        if let number = Double(text), number.isFinite { return number }
        return numberWords[text]
    }

    /// The first duration in the message (1 to 600 s) that is not of a
    /// title, an intro, a fade or a transition.
    // The duration readings, compiled once: compiling them on every
    // message cost about 570 bytes that Foundation never gave back (found
    // by `scripts/bench/soak`). NSRegularExpression is immutable and safe
    // to share between threads.
    private typealias Reading = @Sendable ([String]) -> Double?
    private static let minutesPattern: String = #"(?<![\d:.])"# + number
        + #"\s*(?:min|mins|minute|minutes)(?:\s*(?:and\s*)?(\d+)\s*(?:s|sec|secs|second|seconds))?\b"#
    private static let secondsPattern: String = #"(?<![\d:.\w])"# + number + #"[\s-]*(?:s|sec|secs|second|seconds)\b"#
    private static let minutes: Reading = { groups in
        guard let minutes = value(groups[0]) else { return nil }
        return minutes * 60 + (Double(groups[1]) ?? 0)
    }
    private static let seconds: Reading = { groups in value(groups[0]) }
    private static let chineseMinutes: Reading = { groups in value(groups[0]).map { $0 * 60 } }

    /// A pattern of this file (one that does not compile is a programming error).
    private static func compiled(_ pattern: String) -> NSRegularExpression {
        try! NSRegularExpression(pattern: pattern)
    }

    private static let durationReadings: [(NSRegularExpression, Reading)] = [
        (compiled(minutesPattern), minutes),
        (compiled(secondsPattern), seconds),
        (compiled(#"\bhalf[\s-](?:a[\s-])?minute\b"#), { _ in 30 }),
        (compiled(#"\b(?:a|one) minute and a half\b"#), { _ in 90 }),
        (compiled(#"\b(?:one|1) and a half minutes?\b"#), { _ in 90 }),
        (compiled(#"(\d+(?:\.\d+)?)\s*秒"#), seconds),
        (compiled(#"(\d+(?:\.\d+)?)\s*分钟"#), chineseMinutes),
    ]

    static func duration(in lower: String) -> Double? {
        var candidates: [(position: Int, seconds: Double)] = []
        let text = lower as NSString
        for (expression, seconds) in durationReadings {
            for match in expression.matches(in: lower, range: NSRange(location: 0, length: text.length)) {
                let groups = (1..<match.numberOfRanges).map { match.range(at: $0).location == NSNotFound ? "" : text.substring(with: match.range(at: $0)) }
                let after = text.substring(from: match.range.location + match.range.length).trimmingCharacters(in: .whitespaces)
                if ["title", "intro", "fade", "transition"].contains(where: { after.hasPrefix($0) }) { continue }
                if let value = seconds(groups) { candidates.append((match.range.location, value)) }
            }
        }
        // "a minute and a half" starts where "a minute" does: the longest reading wins at a position.
        let sorted = candidates.sorted { $0.position < $1.position || ($0.position == $1.position && $0.seconds > $1.seconds) }
        return sorted.first { (1...600).contains($0.seconds) }?.seconds
    }

    // MARK: Aspect ratios

    static func aspect(in lower: String, words: Set<String>) -> Canvas? {
        if lower.contains("9:16") || !words.isDisjoint(with: ["vertical", "portrait", "tiktok", "reels", "shorts"]) { return .portrait }
        if lower.contains("16:9") || !words.isDisjoint(with: ["horizontal", "landscape", "widescreen", "youtube"]) { return .landscape }
        if lower.contains("1:1") || words.contains("square") { return .square }
        if lower.contains("4:5") { return .fourByFive }
        return nil
    }

    // MARK: New video

    static func newVideo(in lower: String, words: Set<String>) -> Bool {
        if !words.isDisjoint(with: ["regenerate", "redo"]) { return true }
        // "make a long video", "create an upbeat 15s promo": a making verb,
        // then a video of up to three words' description (not "add a title to the video").
        let made = #"\b(make|create|generate|produce|build)\b.*?\b(a|an|another|new)\s+(?:(?!(?:to|the|of|for|in|on|with|into|it)\b)[\w'-]+\s+){0,3}?(video|clip|slideshow|montage|promo|reel|teaser)s?\b"#
        if lower.range(of: made, options: .regularExpression) != nil { return true }
        for phrase in ["from scratch", "new video", "another video", "a video", "an video", "a clip", "a slideshow", "a montage", "a promo"]
        where lower.range(of: "\\b" + phrase + "\\b", options: .regularExpression) != nil {
            return true
        }
        return lower.range(of: #"\bturn\b.*\binto\b"#, options: .regularExpression) != nil
    }

    // MARK: Titles

    /// Text in quotes: straight, curly, single (not an apostrophe), CJK
    /// corner brackets, guillemets; the first pair found.
    static func quoted(in message: String) -> String? {
        let pairs: [(Character, Character)] = [("\"", "\""), ("“", "”"), ("「", "」"), ("『", "』"), ("«", "»"), ("《", "》"), ("‘", "’"), ("'", "'")]
        var best: (start: String.Index, text: String)?
        for (open, close) in pairs {
            var search = message.startIndex
            while let start = message[search...].firstIndex(of: open) {
                let single = open == "'" || open == "‘"
                let afterOpen = message.index(after: start)
                search = afterOpen
                if single {
                    // An opening mark at the start or after a space, a
                    // bracket or a colon, and before a letter.
                    if start > message.startIndex, let before = message[..<start].last, !(before.isWhitespace || "(:[".contains(before)) { continue }
                    guard afterOpen < message.endIndex, !message[afterOpen].isWhitespace else { continue }
                }
                var end = afterOpen
                var found: String.Index?
                while let candidate = message[end...].firstIndex(of: close) {
                    if single {
                        // A closing mark after a letter, before the end, a space or punctuation.
                        let next = message.index(after: candidate)
                        let closes = next == message.endIndex || message[next].isWhitespace || message[next].isPunctuation
                        if candidate > afterOpen, !message[message.index(before: candidate)].isWhitespace, closes {
                            found = candidate
                            break
                        }
                        end = next
                        if end >= message.endIndex { break }
                        continue
                    }
                    found = candidate
                    break
                }
                guard let closeIndex = found else { continue }
                let text = message[afterOpen..<closeIndex].trimmingCharacters(in: .whitespaces)
                if !text.isEmpty, text.count <= 100, best == nil || start < best!.start { best = (start, text) }
                break
            }
        }
        return best?.text
    }

    /// A title: quoted text, or the words after `titled`, `called`, `title
    /// to`, `title saying`, `that says`, `title:` up to the end of the clause.
    static func title(in message: String) -> String? {
        let lower = message.lowercased()
        let mentionsTitle = ["title", "caption", "called", "says", "saying", "text", "subtitle", "标题"].contains { lower.contains($0) }
        if let quoted = quoted(in: message), mentionsTitle || !lower.contains("music") { return quoted }
        for marker in ["titled ", "title saying ", "title that says ", "that says ", "called ", "title to ", "title:"] {
            guard let range = lower.range(of: marker) else { continue }
            let offset = lower.distance(from: lower.startIndex, to: range.upperBound)
            let rest = message[message.index(message.startIndex, offsetBy: offset)...]
            let clause = rest.prefix { !",;.!?".contains($0) }.trimmingCharacters(in: .whitespaces)
            if !clause.isEmpty, clause.count <= 100 { return clause }
        }
        return nil
    }

    // MARK: Music and volume

    static func musicStyle(_ words: Set<String>) -> String? {
        if !words.isDisjoint(with: ["lofi", "lo"]) && (words.contains("fi") || words.contains("lofi")) { return "Lo-fi" }
        if !words.isDisjoint(with: ["upbeat", "pop"]) { return "Upbeat Pop" }
        if !words.isDisjoint(with: ["cinematic", "epic", "orchestral"]) { return "Cinematic Strings" }
        if !words.isDisjoint(with: ["acoustic", "calm"]) { return "Acoustic Morning" }
        if !words.isDisjoint(with: ["synthwave", "retro"]) { return "Synthwave Drive" }
        return nil
    }

    static func volume(in lower: String, words: Set<String>) -> Volume? {
        if let match = lower.range(of: #"(\d{1,3})\s*%"#, options: .regularExpression),
            words.contains("volume") || words.contains("music"),
            let percent = Double(lower[match].dropLast().trimmingCharacters(in: .whitespaces)), percent > 0
        {
            return .set(Swift.min(1, Swift.max(0.05, percent / 100)))
        }
        let turnedUp = lower.range(of: #"\bturn\b.*\bup\b"#, options: .regularExpression) != nil
        let turnedDown = lower.range(of: #"\bturn\b.*\bdown\b"#, options: .regularExpression) != nil
        if turnedDown || !words.isDisjoint(with: ["quieter", "softer", "lower", "decrease"]) { return .down }
        if turnedUp || !words.isDisjoint(with: ["louder", "increase", "raise"]) { return .up }
        return nil
    }

    // MARK: Length

    static func length(in lower: String, words: Set<String>, duration: Double?) -> Length? {
        if let duration {
            if lower.range(of: #"\b(cut|trim|remove|take)\b.*\boff\b"#, options: .regularExpression) != nil { return .cutOff(duration) }
            if lower.range(of: #"\b(trim|cut|shorten)\b"#, options: .regularExpression) != nil { return .trimTo(duration) }
            if lower.range(of: #"\b(make it|extend|set it|change it|length|long)\b"#, options: .regularExpression) != nil { return .setTo(duration) }
            return nil
        }
        if !words.isDisjoint(with: ["shorter", "shorten"]) || lower.range(of: #"\btrim (it|the video)\b(?!\s+to\b)"#, options: .regularExpression) != nil {
            return .shorter
        }
        if !words.isDisjoint(with: ["longer", "extend"]) { return .longer }
        return nil
    }
}
