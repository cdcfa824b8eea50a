import Foundation
import NemoCore

/// How the simulated agent changes a draft: a generation lays the session's
/// uploads on a video track (stage 1), then adds background music and a title
/// (stage 2); an edit does what its words say.
enum DraftEditor {
    static let musicNames = ["Lo-fi", "Upbeat Pop", "Cinematic Strings", "Acoustic Morning", "Synthwave Drive"]

    /// Stage 1 of a generation: a video track of the uploads.
    static func generate(from uploads: [UploadedFile], message: String, canvas: (width: Int, height: Int)) -> Draft {
        var segments: [Segment] = []
        var start = 0
        let media = uploads.filter { $0.fileType == "video" || $0.fileType == "image" }
        for (index, file) in media.enumerated() {
            let duration = file.fileType == "video" ? Int(((file.duration ?? 10) * 1000).rounded()) : 5000
            segments.append(Segment(
                id: "v\(index + 1)", start: start, duration: max(duration, 1000),
                metadata: ["name": .string(displayName(file.filename)), "src": .string(file.cdnURL)]))
            start += max(duration, 1000)
        }
        if segments.isEmpty {
            segments.append(Segment(id: "v1", start: 0, duration: 10000, metadata: ["name": "generated clip"]))
            start = 10000
        }
        return Draft(
            tracks: [Track(type: .video, segments: segments)], duration: start,
            metadata: ["title": .string(title(from: message)), "width": .number(Double(canvas.width)), "height": .number(Double(canvas.height))])
    }

    /// Stage 2 of a generation: background music over the whole length and a title.
    static func addMusicAndTitle(to draft: inout Draft, message: String, random: inout SeededRandom) {
        let length = draft.effectiveDuration
        let music = musicNames[Int.random(in: 0..<musicNames.count, using: &random)]
        draft.tracks.removeAll { $0.type == .audio || $0.type == .text }
        draft.tracks.append(Track(type: .audio, segments: [Segment(id: "a1", start: 0, duration: length, metadata: ["name": .string(music), "volume": 0.35])]))
        draft.tracks.append(Track(type: .text, segments: [Segment(id: "t1", start: 0, duration: min(3000, length), metadata: ["text": .string(title(from: message))])]))
    }

    /// An edit, by the words of the message.
    static func edit(_ draft: inout Draft, message: String, random: inout SeededRandom) {
        let lower = message.lowercased()
        let words = Set(lower.split { !$0.isLetter && !$0.isNumber }.map(String.init))
        let length = draft.effectiveDuration
        var changed = false
        if words.contains("remove") && (words.contains("music") || words.contains("bgm") || words.contains("audio")) {
            draft.tracks.removeAll { $0.type == .audio }
            changed = true
        } else if !words.isDisjoint(with: ["music", "bgm", "soundtrack", "song"]) {
            // A new track: never the one already there, so the edit is visible.
            let current = draft.tracks.first { $0.type == .audio }?.segments.first?.metadata["name"]?.stringValue
            let choices = musicNames.filter { $0 != current }
            let name = quoted(in: message) ?? choices[Int.random(in: 0..<choices.count, using: &random)]
            draft.tracks.removeAll { $0.type == .audio }
            draft.tracks.append(Track(type: .audio, segments: [Segment(id: "a1", start: 0, duration: length, metadata: ["name": .string(name), "volume": 0.35])]))
            changed = true
        }
        if !words.isDisjoint(with: ["louder", "quieter", "volume"]) {
            for index in draft.tracks.indices where draft.tracks[index].type == .audio {
                for segment in draft.tracks[index].segments.indices {
                    let current = draft.tracks[index].segments[segment].metadata["volume"]?.doubleValue ?? 0.35
                    let next = words.contains("quieter") ? max(0.05, current - 0.15) : min(1, current + 0.15)
                    draft.tracks[index].segments[segment].metadata["volume"] = .number((next * 100).rounded() / 100)
                }
            }
            changed = true
        }
        if !words.isDisjoint(with: ["title", "caption", "captions", "text", "subtitle", "subtitles"]) {
            let text = quoted(in: message) ?? title(from: message)
            draft.tracks.removeAll { $0.type == .text }
            draft.tracks.append(Track(type: .text, segments: [Segment(id: "t1", start: 0, duration: min(3000, max(length, 1000)), metadata: ["text": .string(text)])]))
            changed = true
        }
        if !words.isDisjoint(with: ["trim", "shorten", "shorter", "cut"]) {
            let target = seconds(in: lower).map { Int(min($0, 86_400) * 1000) } ?? Int(Double(length) * 0.8)
            setLength(&draft, to: max(1000, min(target, length)))
            changed = true
        } else if !words.isDisjoint(with: ["longer", "extend"]) {
            let target = seconds(in: lower).map { Int(min($0, 86_400) * 1000) } ?? Int(Double(length) * 1.25)
            setLength(&draft, to: max(target, length))
            changed = true
        }
        if !changed {
            draft.metadata["last_edit"] = .string(message)
        }
    }

    /// Cuts or stretches every track to `length` ms.
    static func setLength(_ draft: inout Draft, to length: Int) {
        let old = max(draft.effectiveDuration, 1)
        for index in draft.tracks.indices {
            var segments: [Segment] = []
            for var segment in draft.tracks[index].segments {
                if segment.start >= length { continue }
                if draft.tracks[index].type == .audio || (segment.end == old && length > old) {
                    segment.duration = length - segment.start
                }
                segment.duration = min(segment.duration, length - segment.start)
                segments.append(segment)
            }
            draft.tracks[index].segments = segments
        }
        draft.duration = length
    }

    static func displayName(_ filename: String) -> String {
        var name = filename
        if let dot = name.lastIndex(of: ".") { name = String(name[..<dot]) }
        return name.replacingOccurrences(of: "_", with: " ").replacingOccurrences(of: "-", with: " ")
    }

    /// Text in double quotes in the message, if any.
    static func quoted(in message: String) -> String? {
        let parts = message.split(separator: "\"", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        let text = parts[1].trimmingCharacters(in: .whitespaces)
        return text.isEmpty ? nil : text
    }

    /// A number followed by s/sec/second(s) in the message.
    static func seconds(in lower: String) -> Double? {
        let tokens = lower.replacingOccurrences(of: "-", with: " ").split(separator: " ")
        for (index, token) in tokens.enumerated() {
            var digits = Substring(token)
            var unitFollows = false
            if digits.hasSuffix("s") && Double(digits.dropLast()) != nil {
                digits = digits.dropLast()
                unitFollows = true
            } else if index + 1 < tokens.count, tokens[index + 1].hasPrefix("sec") {
                unitFollows = true
            }
            if unitFollows, let value = Double(digits), value > 0, value.isFinite { return value }
        }
        return nil
    }

    /// A short title from the message: a quoted phrase, else its first words.
    static func title(from message: String) -> String {
        if let quoted = quoted(in: message) { return quoted }
        let words = message.split(separator: " ").prefix(4).joined(separator: " ")
        let title = words.isEmpty ? "My Video" : words
        return title.prefix(1).uppercased() + title.dropFirst()
    }
}
