import Foundation
import NemoCore

/// How the simulated agent changes a draft, from what the message asks
/// (``MessageIntent``): a generation lays the session's uploads on a video
/// track for the asked duration (stage 1), then adds background music and a
/// title (stage 2); an edit does what its words say, and when they ask for
/// nothing it can do, or for what is already there, it changes nothing and
/// says so.
enum DraftEditor {
    static let musicNames = ["Lo-fi", "Upbeat Pop", "Cinematic Strings", "Acoustic Morning", "Synthwave Drive"]
    static let defaultMusicVolume = 0.35

    /// What an edit did: the changes made, in words, and for what it left
    /// alone, why.
    struct EditOutcome: Sendable, Equatable {
        var changes: [String] = []
        var unchanged: [String] = []
        var changed: Bool { !changes.isEmpty }
    }

    // MARK: Generation

    /// Stage 1 of a generation: the uploads on a video track, for the asked
    /// duration (videos keep theirs, images share what remains, generated
    /// footage fills what the uploads leave; images 5 s each without a
    /// duration), on the asked canvas.
    static func generate(from uploads: [UploadedFile], intent: MessageIntent, message: String, canvas: Canvas) -> Draft {
        let media = uploads.filter { $0.fileType == "video" || $0.fileType == "image" }
        let target = intent.duration.map { Int(($0 * 1000).rounded()) }
        var segments: [Segment] = []
        var start = 0
        let videoLength = media.filter { $0.fileType == "video" }.reduce(0) { $0 + max(1000, Int((($1.duration ?? 10) * 1000).rounded())) }
        let images = media.filter { $0.fileType == "image" }.count
        let imageLength = target.map { images > 0 ? max(1000, ($0 - min(videoLength, $0)) / images) : 0 } ?? 5000
        for (index, file) in media.enumerated() {
            if let target, start >= target { break }
            var duration = file.fileType == "video" ? max(1000, Int(((file.duration ?? 10) * 1000).rounded())) : imageLength
            if let target { duration = min(duration, target - start) }
            segments.append(Segment(
                id: "v\(index + 1)", start: start, duration: duration,
                metadata: ["name": .string(displayName(file.filename)), "src": .string(file.cdnURL)]))
            start += duration
        }
        if segments.isEmpty {
            let duration = target ?? 10000
            segments.append(Segment(id: "v1", start: 0, duration: duration, metadata: ["name": "generated clip"]))
            start = duration
        } else if let target, start < target {
            // Too little footage for the asked length: the agent generates the rest.
            segments.append(Segment(id: "v\(segments.count + 1)", start: start, duration: target - start, metadata: ["name": "generated clip"]))
            start = target
        }
        return Draft(
            tracks: [Track(type: .video, segments: segments)], duration: start,
            metadata: [
                "title": .string(intent.title ?? title(from: message)), "width": .number(Double(canvas.width)), "height": .number(Double(canvas.height)),
            ])
    }

    /// Stage 2 of a generation: background music over the whole length
    /// (unless the message asked for none) and a title.
    static func addMusicAndTitle(to draft: inout Draft, intent: MessageIntent, message: String, random: inout SeededRandom) {
        let length = draft.effectiveDuration
        let name = intent.musicName ?? musicNames[Int.random(in: 0..<musicNames.count, using: &random)]
        draft.tracks.removeAll { $0.type == .audio || $0.type == .text }
        if !intent.musicOff {
            draft.tracks.append(Track(type: .audio, segments: [music(name, length: length)]))
        }
        let text = intent.title ?? title(from: message)
        draft.tracks.append(Track(type: .text, segments: [titleSegment(text, length: length)]))
        draft.metadata["title"] = .string(text)
    }

    // MARK: Edits

    /// An edit, by what the message asks. The draft is left exactly as it
    /// was when nothing the message asks for can be done.
    static func edit(_ draft: inout Draft, intent: MessageIntent, random: inout SeededRandom) -> EditOutcome {
        var outcome = EditOutcome()
        let length = draft.effectiveDuration
        let audio = draft.tracks.firstIndex { $0.type == .audio }
        let current = audio.flatMap { draft.tracks[$0].segments.first?.metadata["name"]?.stringValue }
        if intent.musicOff {
            if audio != nil {
                draft.tracks.removeAll { $0.type == .audio }
                outcome.changes.append("Music removed")
            } else {
                outcome.unchanged.append("there is no music to remove")
            }
        } else if intent.musicChange || intent.musicOn {
            if audio != nil && !intent.musicChange {
                outcome.unchanged.append("the timeline already has music (\(current ?? "untitled"))")
            } else {
                let choices = musicNames.filter { $0 != current }
                let name = intent.musicName ?? choices[Int.random(in: 0..<choices.count, using: &random)]
                if name == current {
                    outcome.unchanged.append("the music is already \(name)")
                } else {
                    let volume = audio.flatMap { draft.tracks[$0].segments.first?.metadata["volume"]?.doubleValue } ?? defaultMusicVolume
                    draft.tracks.removeAll { $0.type == .audio }
                    var segment = music(name, length: length)
                    segment.metadata["volume"] = .number(volume)
                    draft.tracks.append(Track(type: .audio, segments: [segment]))
                    outcome.changes.append(current == nil ? "Music added: \(name)" : "Music changed to \(name) (was \(current!))")
                }
            }
        }
        if let change = intent.volume, !intent.musicOff {
            if let index = draft.tracks.firstIndex(where: { $0.type == .audio }) {
                let before = draft.tracks[index].segments.first?.metadata["volume"]?.doubleValue ?? defaultMusicVolume
                var after: Double
                switch change {
                case .up: after = min(1, before + 0.15)
                case .down: after = max(0.05, before - 0.15)
                case .set(let level): after = level
                }
                after = (after * 100).rounded() / 100
                if after == before {
                    outcome.unchanged.append("the music volume is already \(Int((before * 100).rounded()))%")
                } else {
                    for segment in draft.tracks[index].segments.indices {
                        draft.tracks[index].segments[segment].metadata["volume"] = .number(after)
                    }
                    outcome.changes.append("Music volume \(Int((after * 100).rounded()))% (was \(Int((before * 100).rounded()))%)")
                }
            } else {
                outcome.unchanged.append("there is no music to make louder or quieter")
            }
        }
        if let text = intent.title {
            let existing = draft.tracks.first { $0.type == .text }?.segments.first?.metadata["text"]?.stringValue
            if existing == text {
                outcome.unchanged.append("the title is already \"\(text)\"")
            } else {
                draft.tracks.removeAll { $0.type == .text }
                let segment = titleSegment(text, length: max(length, 1000))
                draft.tracks.append(Track(type: .text, segments: [segment]))
                draft.metadata["title"] = .string(text)
                outcome.changes.append("Title set to \"\(text)\" (0-\(Track.seconds(segment.duration))s)")
            }
        } else if intent.removeTitle {
            if draft.tracks.contains(where: { $0.type == .text }) {
                draft.tracks.removeAll { $0.type == .text }
                outcome.changes.append("Title removed")
            } else {
                outcome.unchanged.append("there is no title to remove")
            }
        } else if intent.mentionsTitle && !intent.recognisedEdit {
            outcome.unchanged.append(draft.tracks.contains { $0.type == .text } ? "the video has a title; say the new one in quotes" : "say the title in quotes")
        }
        if let change = intent.length {
            let target: Int
            switch change {
            case .trimTo(let seconds): target = min(length, Int((seconds * 1000).rounded()))
            case .setTo(let seconds): target = Int((seconds * 1000).rounded())
            case .cutOff(let seconds): target = max(1000, length - Int((seconds * 1000).rounded()))
            case .shorter: target = max(1000, Int((Double(length) * 0.8 / 100).rounded()) * 100)
            case .longer: target = Int((Double(length) * 1.25 / 100).rounded()) * 100
            }
            if target == length {
                outcome.unchanged.append("the video is already \(Track.seconds(length))s long")
            } else {
                setLength(&draft, to: target)
                outcome.changes.append("\(target < length ? "Trimmed" : "Lengthened") to \(Track.seconds(target))s (was \(Track.seconds(length))s)")
            }
        }
        if !outcome.changed && outcome.unchanged.isEmpty {
            outcome.unchanged.append("there is nothing in that I can change on the timeline")
        }
        return outcome
    }

    /// Cuts or stretches every track to `length` ms: video cut there (the
    /// last segment stretched when longer), music spanning the whole, text
    /// clipped.
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

    // MARK: Pieces

    static func music(_ name: String, length: Int) -> Segment {
        Segment(id: "a1", start: 0, duration: length, metadata: ["name": .string(name), "volume": .number(defaultMusicVolume)])
    }

    static func titleSegment(_ text: String, length: Int) -> Segment {
        Segment(id: "t1", start: 0, duration: min(3000, max(length, 1000)), metadata: ["text": .string(text)])
    }

    static func displayName(_ filename: String) -> String {
        var name = filename
        if let dot = name.lastIndex(of: ".") { name = String(name[..<dot]) }
        return name.replacingOccurrences(of: "_", with: " ").replacingOccurrences(of: "-", with: " ")
    }

    /// A short title from the message: its first words.
    static func title(from message: String) -> String {
        let words = message.split(separator: " ").prefix(4).joined(separator: " ")
        let title = words.isEmpty ? "My Video" : words
        return title.prefix(1).uppercased() + title.dropFirst()
    }
}
