import Foundation
import NemoCore
import Testing

@testable import NemoSimulator

/// A generated draft: 10 s of video, music and a title.
private func generated() -> Draft {
    var random = SeededRandom(seed: 1)
    let uploads = [UploadedFile(filename: "city_night.mp4", fileType: "video", cdnURL: "http://x/c.mp4", duration: 10)]
    var draft = DraftEditor.generate(from: uploads, message: "make a promo", canvas: (1920, 1080))
    DraftEditor.addMusicAndTitle(to: &draft, message: "make a promo", random: &random)
    return draft
}

private func edited(_ message: String, _ draft: Draft = generated()) -> Draft {
    var random = SeededRandom(seed: 2)
    var draft = draft
    DraftEditor.edit(&draft, message: message, random: &random)
    return draft
}

@Suite("The simulated agent's edits")
struct DraftEditorTests {
    @Test("A generation lays the uploads on a video track; the second stage adds music over the whole length and a title")
    func generation() {
        let draft = generated()
        #expect(draft.tracks.map(\.type) == [.video, .audio, .text])
        #expect(draft.tracks[0].segments.first?.metadata["name"] == "city night")
        #expect(draft.tracks[1].segments.first?.duration == 10_000)
        #expect(draft.effectiveDuration == 10_000)
    }

    @Test("Titles: a quoted text is used, else words of the message")
    func titles() {
        #expect(edited(#"add a title "Summer Sale""#).tracks.first { $0.type == .text }?.segments.first?.metadata["text"] == "Summer Sale")
        #expect(edited("add a caption").tracks.first { $0.type == .text }?.segments.first?.metadata["text"]?.stringValue?.isEmpty == false)
    }

    @Test("Music: replaced by another track, removed, louder and quieter")
    func music() {
        let before = generated().tracks.first { $0.type == .audio }?.segments.first?.metadata["name"]
        let replaced = edited("change the music").tracks.first { $0.type == .audio }?.segments.first?.metadata["name"]
        #expect(replaced != nil && replaced != before)
        #expect(!edited("remove the music").tracks.contains { $0.type == .audio })
        #expect(edited("make the music louder").tracks.first { $0.type == .audio }?.segments.first?.metadata["volume"] == 0.5)
        #expect(edited("make the music quieter").tracks.first { $0.type == .audio }?.segments.first?.metadata["volume"] == 0.2)
    }

    @Test("Length: trimmed to N seconds, shortened, lengthened; every track follows")
    func length() {
        let trimmed = edited("trim it to 4 seconds")
        #expect(trimmed.effectiveDuration == 4000)
        #expect(trimmed.tracks.allSatisfy { $0.segments.allSatisfy { $0.end <= 4000 } })
        #expect(edited("make it shorter").effectiveDuration == 8000)
        #expect(edited("make it longer").effectiveDuration == 12_500)
        #expect(edited("extend it to 20s").effectiveDuration == 20_000)
        // Out-of-range numbers never trap.
        #expect(edited("trim it to 1e300 seconds").effectiveDuration == 10_000)
    }
}
