import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

/// The baseline of the edit rows: 10 s of generated video, Lo-fi music at
/// 35% over the whole length, the title "Summer Sale" for 3 s.
private func d0() -> Draft {
    Draft(
        tracks: [
            Track(type: .video, segments: [Segment(id: "v1", start: 0, duration: 10_000, metadata: ["name": "generated clip"])]),
            Track(type: .audio, segments: [Segment(id: "a1", start: 0, duration: 10_000, metadata: ["name": "Lo-fi", "volume": 0.35])]),
            Track(type: .text, segments: [Segment(id: "t1", start: 0, duration: 3000, metadata: ["text": "Summer Sale"])]),
        ],
        duration: 10_000, metadata: ["title": "Summer Sale", "width": 1920, "height": 1080])
}

/// D0 without its music.
private func d1() -> Draft {
    var draft = d0()
    draft.tracks.removeAll { $0.type == .audio }
    return draft
}

private func edited(_ message: String, _ draft: Draft = d0()) -> (draft: Draft, outcome: DraftEditor.EditOutcome) {
    var random = SeededRandom(seed: 2)
    var draft = draft
    let outcome = DraftEditor.edit(&draft, intent: MessageIntent(message).forgettingWords(), random: &random)
    return (draft, outcome)
}

private extension Draft {
    var video: [Segment] { tracks.first { $0.type == .video }?.segments ?? [] }
    var music: Segment? { tracks.first { $0.type == .audio }?.segments.first }
    var title: Segment? { tracks.first { $0.type == .text }?.segments.first }
    var spans: [String] { tracks.flatMap { $0.segments.map { "\($0.id ?? "") \($0.start)-\($0.end)" } } }
}

/// A generation run through the simulation, both stages: the draft and the
/// canvas the session's state reports.
private func generation(_ text: String, uploads: [ReceivedFile] = []) async throws -> (draft: Draft, canvas: [String: JSONValue]) {
    let simulation = frozenSimulation { $0.temporaryIssueRatio = 0; $0.operationFailureRatio = 0 }
    let (token, _, session) = try await signedIn(simulation)
    if !uploads.isEmpty {
        _ = try await simulation.completeUpload(token: token, userPath: "me", sessionID: session, files: uploads)
    }
    _ = try await simulation.startMessage(token: token, request: message(text, session: session), lastEventID: nil)
    try await simulation.advanceClock(by: 1000)
    let state = try await simulation.state(token: token, userPath: "me", sessionID: session).state
    let canvas = state.canvasConfig ?? [:]
    return (try #require(state.draft), canvas)
}

/// The message-understanding table (issue 14): message → draft, pinned.
@Suite("The simulated agent's understanding of messages")
struct DraftEditorTests {
    // MARK: Generations (rows 1-17)

    @Test(
        "Generation length from the message (rows 1-8)",
        arguments: [
            ("make a 30-second promo video", 30_000), ("create a 1 minute video about our café", 60_000), ("generate a 15s clip", 15_000),
            ("make a video a minute and a half long", 90_000), ("make a 1.5 minute video", 90_000), ("make a half-minute teaser video", 30_000),
            ("make a 2 min 30 s video", 150_000), ("make a video", 10_000),
        ])
    func generationLength(text: String, length: Int) async throws {
        #expect(MessageKind.classify(text, draftIsEmpty: true, profile: BehaviourProfile()) == .generation)
        let (draft, canvas) = try await generation(text)
        #expect(draft.effectiveDuration == length)
        #expect(draft.video.map(\.end) == [length])
        #expect(draft.music?.duration == length && draft.music?.metadata["volume"] == 0.35)
        #expect(draft.title?.start == 0 && draft.title?.duration == 3000)
        #expect(canvas["width"] == 1920 && canvas["height"] == 1080)
    }

    @Test("Uploads share the asked length: videos keep theirs, images share the rest (rows 9-10)")
    func generationUploads() async throws {
        let mixed = try await generation(
            "turn these into a 20-second video",
            uploads: [ReceivedFile(filename: "clip.mp4", size: 1, sha256: "a"), ReceivedFile(filename: "logo.png", size: 1, sha256: "b", width: 512, height: 512)])
        #expect(mixed.draft.video.map { "\($0.metadata["name"]?.stringValue ?? "") \($0.start)-\($0.end)" } == ["clip 0-10000", "logo 10000-20000"])
        #expect(mixed.draft.effectiveDuration == 20_000)
        let slides = try await generation(
            "make a 30 second slideshow", uploads: (1...3).map { ReceivedFile(filename: "p\($0).png", size: 1, sha256: "p\($0)", width: 1920, height: 1080) })
        #expect(slides.draft.video.map { "\($0.start)-\($0.end)" } == ["0-10000", "10000-20000", "20000-30000"])
        // Too little footage for the asked length: generated footage fills the rest.
        let short = try await generation("make a 30-second promo video", uploads: [ReceivedFile(filename: "clip.mp4", size: 1, sha256: "c")])
        #expect(short.draft.video.map { "\($0.metadata["name"]?.stringValue ?? "") \($0.start)-\($0.end)" } == ["clip 0-10000", "generated clip 10000-30000"])
        #expect(short.draft.effectiveDuration == 30_000)
    }

    @Test("Aspect ratios: the message's ratio sets the canvas, over the uploads' (rows 11-13)")
    func generationAspect() async throws {
        let vertical = try await generation("make a vertical 9:16 video for TikTok")
        #expect(vertical.canvas["width"] == 1080 && vertical.canvas["height"] == 1920 && vertical.canvas["aspect_ratio"] == "9:16")
        #expect(vertical.draft.metadata["width"] == 1080 && vertical.draft.metadata["height"] == 1920)
        #expect(vertical.draft.effectiveDuration == 10_000)
        let square = try await generation("make a square video")
        #expect(square.canvas["width"] == 1080 && square.canvas["height"] == 1080 && square.canvas["aspect_ratio"] == "1:1")
        let explicit = try await generation("make a 16:9 video", uploads: [ReceivedFile(filename: "tall.png", size: 1, sha256: "t", width: 1080, height: 1920)])
        #expect(explicit.canvas["width"] == 1920 && explicit.canvas["height"] == 1080)
    }

    @Test("Titles and music asked for in a generation (rows 14-17)")
    func generationTitleAndMusic() async throws {
        let titled = try await generation(#"make a video titled "Summer Sale""#)
        #expect(titled.draft.title?.metadata["text"] == "Summer Sale" && titled.draft.metadata["title"] == "Summer Sale")
        #expect(try await generation("make a promo video called ‘Grand Opening’").draft.title?.metadata["text"] == "Grand Opening")
        let silent = try await generation("make a video without music")
        #expect(silent.draft.tracks.map(\.type) == [.video, .text])
        #expect(try await generation("make a video with upbeat music").draft.music?.metadata["name"] == "Upbeat Pop")
    }

    // MARK: Titles (rows 18-27)

    @Test(
        "A title in any quotes, or after \"title to\" (rows 18-25)",
        arguments: [
            (#"add a title "Hello World""#, "Hello World"), ("add a title 'Grand Opening'", "Grand Opening"),
            ("add a title “Grand Opening”", "Grand Opening"), ("add a title ‘Grand Opening’", "Grand Opening"),
            ("add the title 「夏日特卖」", "夏日特卖"), ("add the title 『東京の夜』", "東京の夜"),
            ("let's change the title to 'It's Here'", "It's Here"), ("change the title to Big News", "Big News"),
            ("add a title saying Grand Opening", "Grand Opening"),
        ])
    func titles(text: String, title: String) {
        let (draft, outcome) = edited(text)
        #expect(draft.title?.metadata["text"] == .string(title))
        #expect(draft.metadata["title"] == .string(title))
        #expect(draft.title?.start == 0 && draft.title?.duration == 3000)
        #expect(draft.video == d0().video && draft.music == d0().music)
        #expect(outcome.changes == ["Title set to \"\(title)\" (0-3s)"])
    }

    @Test("\"add a title\" with no text changes nothing; \"remove the title\" removes the text track (rows 26-27)")
    func titleWithoutText() {
        let (same, outcome) = edited("add a title")
        #expect(same == d0() && !outcome.changed && outcome.unchanged.first?.contains("say the new one in quotes") == true)
        let (removed, _) = edited("remove the title")
        #expect(removed.tracks.map(\.type) == [.video, .audio] && removed.metadata["title"] == "Summer Sale")
    }

    // MARK: Music (rows 28-40)

    @Test("Music off in any words (rows 28-31)", arguments: ["remove the music", "no music please", "mute the music"])
    func musicOff(text: String) {
        let (draft, outcome) = edited(text)
        #expect(draft.tracks.map(\.type) == [.video, .text])
        #expect(outcome.changes == ["Music removed"])
        let (same, nothing) = edited(text, d1())
        #expect(same == d1() && !nothing.changed && nothing.unchanged == ["there is no music to remove"])
    }

    @Test("Music added, kept when there is some, replaced by name or by chance (rows 32-35)")
    func musicOnAndChange() {
        let (added, _) = edited("add some lo-fi music", d1())
        #expect(added.music?.metadata["name"] == "Lo-fi" && added.music?.start == 0 && added.music?.duration == 10_000 && added.music?.metadata["volume"] == 0.35)
        let (same, outcome) = edited("add music")
        #expect(same == d0() && outcome.unchanged == ["the timeline already has music (Lo-fi)"])
        let (named, _) = edited(#"replace the music with "Night Drive""#)
        #expect(named.music?.metadata["name"] == "Night Drive" && named.music?.metadata["volume"] == 0.35)
        #expect(named.title == d0().title)
        let (other, _) = edited("use different music")
        #expect(other.music?.metadata["name"] != "Lo-fi" && other.music?.metadata["name"] != nil)
    }

    @Test(
        "Volume up, down, to a level; nothing without music (rows 36-40)",
        arguments: [("make the music louder", 0.5), ("quieter please", 0.2), ("turn the music down", 0.2), ("set the music volume to 80%", 0.8)])
    func volume(text: String, level: Double) {
        #expect(edited(text).draft.music?.metadata["volume"] == .number(level))
        #expect(edited("make it louder", d1()).draft == d1())
        #expect(!edited("make it louder", d1()).outcome.changed)
    }

    // MARK: Length (rows 41-46)

    @Test(
        "Trim to, cut off, shorter, longer, set: every track follows (rows 41-46)",
        arguments: [
            ("trim to 8 seconds", 8000), ("make it shorter", 8000), ("cut 2 seconds off the end", 8000),
            ("make it 1 minute long", 60_000), ("make it longer", 12_500),
        ])
    func length(text: String, length: Int) {
        let (draft, outcome) = edited(text)
        #expect(draft.effectiveDuration == length)
        #expect(draft.spans == ["v1 0-\(length)", "a1 0-\(length)", "t1 0-3000"])
        #expect(outcome.changes.first?.hasPrefix(length < 10_000 ? "Trimmed to" : "Lengthened to") == true)
    }

    @Test("Trimming to more than the length changes nothing (row 42); out-of-range numbers never trap")
    func lengthUnchanged() {
        let (draft, outcome) = edited("trim it to 15 seconds")
        #expect(draft == d0() && outcome.unchanged == ["the video is already 10s long"])
        #expect(edited("trim it to 1e300 seconds").draft == d0())
        #expect(edited("make it 99999999999999999999 seconds long").draft == d0())
    }

    // MARK: Replies and regeneration (rows 47-51)

    @Test("A new aspect ratio on a draft is a free reply, unless regeneration is asked for; chat is a reply (rows 47-51)")
    func kinds() {
        let profile = BehaviourProfile()
        #expect(MessageKind.classify("make it vertical", draftIsEmpty: false, profile: profile) == .reply)
        #expect(MessageKind.classify("make it square", draftIsEmpty: false, profile: profile) == .reply)
        #expect(MessageKind.classify("regenerate it in 9:16", draftIsEmpty: false, profile: profile) == .generation)
        #expect(MessageKind.classify("change the color grading to warm", draftIsEmpty: false, profile: profile) == .edit)
        #expect(MessageKind.classify("hello, what can you do?", draftIsEmpty: false, profile: profile) == .reply)
        let (draft, outcome) = edited("change the color grading to warm")
        #expect(draft == d0() && !outcome.changed)
        // A new video asked for in so many words is a generation on any draft; an edit that names the video is not.
        #expect(MessageKind.classify("make a long video", draftIsEmpty: false, profile: profile) == .generation)
        #expect(MessageKind.classify("create an upbeat 15s promo", draftIsEmpty: false, profile: profile) == .generation)
        #expect(MessageKind.classify("add a title to the video", draftIsEmpty: false, profile: profile) == .edit)
        #expect(MessageKind.classify("make the video longer", draftIsEmpty: false, profile: profile) == .edit)
    }

    @Test("An edit that changes nothing leaves the draft byte-identical")
    func noChangeIsIdentical() throws {
        for text in ["add a title", "add music", "trim it to 15 seconds", "change the color grading to warm"] {
            let (draft, _) = edited(text)
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            #expect(try encoder.encode(draft) == encoder.encode(d0()), "\(text)")
        }
    }
}
