import Foundation
import NemoCore

/// What a message asks for.
public enum MessageKind: String, Sendable, Hashable, Codable {
    /// Make a video (two stages: the edit, then music and title).
    case generation
    /// Change the existing draft.
    case edit
    /// A plain reply, no work.
    case reply

    /// Classifies a message: on a non-empty draft, a new aspect ratio
    /// alone is a plain reply (it needs a new video); a new video asked
    /// for, or generation words on an empty draft, make a generation; an
    /// edit the rules recognise, or edit words, on a non-empty draft make an
    /// edit; anything else is a plain reply.
    static func classify(_ intent: MessageIntent, draftIsEmpty: Bool, profile: BehaviourProfile) -> MessageKind {
        let hasGeneration = profile.generationKeywords.contains { intent.words.contains($0.lowercased()) }
        let hasEdit = profile.editKeywords.contains { intent.words.contains($0.lowercased()) }
        if !draftIsEmpty && intent.aspect != nil && intent.words.isDisjoint(with: ["regenerate", "redo"]) { return .reply }
        if intent.newVideo || (draftIsEmpty && hasGeneration) { return .generation }
        if !draftIsEmpty && (intent.recognisedEdit || hasEdit) { return .edit }
        return .reply
    }

    /// Classifies message text (see ``classify(_:draftIsEmpty:profile:)``).
    public static func classify(_ text: String, draftIsEmpty: Bool, profile: BehaviourProfile) -> MessageKind {
        classify(MessageIntent(text), draftIsEmpty: draftIsEmpty, profile: profile)
    }

    func cost(_ profile: BehaviourProfile) -> Int {
        switch self {
        case .generation: return profile.generationCost
        case .edit: return profile.editCost
        case .reply: return profile.replyCost
        }
    }
}

/// One event of an operation's stream, at its simulated offset from the start.
public struct PlannedEvent: Sendable, Hashable {
    /// Simulated seconds after the operation started.
    public var offset: Double
    public var event: AgentEvent
    /// `"<message index>-<n>"`, n from 1: what `Last-Event-ID` names.
    public var id: String
    /// Set when the event can only be told once the work is applied (an
    /// edit's result and reply say what really changed).
    public var deferred: Deferred?
}

/// An event whose content is known only once the operation's work is applied.
public enum Deferred: Sendable, Hashable {
    /// An edit's tool result: `{"status": "completed", "changed": ...}`.
    case editResult
    /// An edit's reply: the changes, or why nothing changed.
    case editReply
}

/// A moment of an operation's stream besides heartbeats.
public struct Milestone: Sendable, Hashable {
    public var offset: Double
    public var event: AgentEvent
    public var deferred: Deferred?
    /// The event is a tool call whose arguments are the schedule's
    /// ``EventSchedule/instruction``, added as the schedule is walked (a
    /// session keeps every message's schedule: a dictionary of arguments
    /// each would be paid per message, for as long as the session lives).
    var carriesInstruction = false
}

/// The events of one operation, in stream order: milestones (tool call,
/// tool result, text, error) merged with heartbeats at every interval while
/// the work runs. Heartbeats are generated as the sequence is walked, so an
/// hour-long operation with 1 s heartbeats costs no memory.
public struct EventSchedule: Sendable, Sequence {
    /// Sorted by offset.
    public var milestones: [Milestone]
    public var heartbeatInterval: Double
    /// Heartbeats come at k × interval for every k ≥ 1 with k × interval < this.
    public var heartbeatsUntil: Double
    public var messageIndex: Int
    /// The message, as the tool call's `instruction` argument.
    var instruction = ""

    /// Where a walk of a schedule is (kept apart from the schedule, so a
    /// walker that holds the schedule anyway holds no second copy).
    struct Position: Sendable {
        var milestone = 0
        var beat = 1
        var number = 0

        /// What is at a position: a heartbeat at this offset, or this milestone.
        enum Found {
            case beat(Double)
            case milestone(Int)

            /// Simulated seconds after the operation started.
            func offset(in schedule: EventSchedule) -> Double {
                switch self {
                case .beat(let offset): return offset
                case .milestone(let index): return schedule.milestones[index].offset
                }
            }
        }

        /// Moves past the event at this position, without making it (a
        /// resumed stream skips what its client saw, a held stream looks
        /// ahead for its next event's time); nil at the end.
        mutating func advance(in schedule: EventSchedule) -> Found? {
            let beatOffset = Double(beat) * schedule.heartbeatInterval
            let hasBeat = schedule.heartbeatInterval > 0 && beatOffset < schedule.heartbeatsUntil
            let hasMilestone = milestone < schedule.milestones.count
            number += 1
            if hasBeat && (!hasMilestone || beatOffset <= schedule.milestones[milestone].offset) {
                beat += 1
                return .beat(beatOffset)
            }
            guard hasMilestone else { return nil }
            defer { milestone += 1 }
            return .milestone(milestone)
        }

        /// The event `advance` just moved past.
        func event(_ found: Found, in schedule: EventSchedule) -> PlannedEvent {
            let id = "\(schedule.messageIndex)-\(number)"
            switch found {
            case .beat(let offset):
                return PlannedEvent(offset: offset, event: .heartbeat, id: id, deferred: nil)
            case .milestone(let index):
                let next = schedule.milestones[index]
                var event = next.event
                if next.carriesInstruction, case .toolCall(let name, _) = event {
                    event = .toolCall(name: name, args: ["instruction": .string(schedule.instruction)])
                }
                return PlannedEvent(offset: next.offset, event: event, id: id, deferred: next.deferred)
            }
        }

        /// The event at this position in `schedule`, moving past it.
        mutating func next(in schedule: EventSchedule) -> PlannedEvent? {
            advance(in: schedule).map { event($0, in: schedule) }
        }
    }

    public struct Iterator: IteratorProtocol {
        let schedule: EventSchedule
        var position = Position()

        public mutating func next() -> PlannedEvent? { position.next(in: schedule) }
    }

    public func makeIterator() -> Iterator { Iterator(schedule: self) }
}

/// An agent operation: what one message set going. Its whole timeline is
/// decided when it starts (from the seeded generator), so its effects can be
/// applied lazily whenever simulated time has passed them, whether or not a
/// client is still listening.
public struct AgentOperation: Sendable {
    public enum Phase: String, Sendable, Hashable, Codable {
        case running, secondStage = "second_stage", completed, failed
    }

    public var messageIndex: Int
    public var kind: MessageKind
    public var text: String
    /// Simulated seconds since the clock's origin.
    public var startedAt: Double
    /// When the work (stage 1) ends and the draft changes.
    public var workDuration: Double
    /// When stage 2 ends (generation only), relative to start.
    public var secondStageEnd: Double?
    public var schedule: EventSchedule
    public var failed: Bool
    public var silentClose: Bool
    public var cost: Int
    /// What the message asks (read once, used when the work is applied).
    var intent: MessageIntent
    /// An edit's outcome, once applied.
    var outcome: DraftEditor.EditOutcome?
    /// How far its effects have been applied: moved only by ``advance(to:)``.
    public private(set) var progress = Progress.started

    /// How far an operation's effects have been applied.
    public enum Progress: Sendable, Hashable {
        case started
        /// The work (stage 1) is done; a generation's second stage runs.
        case workApplied
        /// Everything applied, credits consumed or released.
        case settled
    }

    /// What falls due as time passes, for the domain to carry out.
    public enum Effect: Sendable, Hashable {
        /// The work is done: the draft changes as the message asked.
        case applyWork
        /// A generation's second stage is done: music and a title.
        case applySecondStage
        /// The work failed: nothing changes.
        case failWork
        case consumeCredits(Int)
        case releaseCredits(Int)
    }

    /// The work has changed the draft (or failed).
    public var workApplied: Bool { progress != .started }
    public var isSettled: Bool { progress == .settled }

    /// Moves the operation to simulated time `now` (seconds since origin)
    /// and returns the effects that fell due since the last move, in order:
    /// the work's result, then (a generation) the second stage, and the
    /// credits consumed or released when it settles.
    public mutating func advance(to now: Double) -> [Effect] {
        let t = now - startedAt
        var effects: [Effect] = []
        if progress == .started && t >= workDuration {
            if failed {
                progress = .settled
                return [.failWork, .releaseCredits(cost)]
            }
            effects.append(.applyWork)
            progress = .workApplied
            if secondStageEnd == nil {
                progress = .settled
                return effects + [.consumeCredits(cost)]
            }
        }
        if progress == .workApplied, let end = secondStageEnd, t >= end {
            progress = .settled
            effects += [.applySecondStage, .consumeCredits(cost)]
        }
        return effects
    }

    /// Every event, materialised (tests and short operations).
    public var events: [PlannedEvent] { Array(schedule) }

    /// The operation's phase at simulated time `now` (seconds since origin).
    public func phase(at now: Double) -> Phase {
        let t = now - startedAt
        if failed { return t >= workDuration ? .failed : .running }
        if t < workDuration { return .running }
        if let end = secondStageEnd, t < end { return .secondStage }
        return .completed
    }

    /// Stage progress as the state endpoint reports it.
    public func stages(at now: Double) -> [StageProgress] {
        let phase = phase(at: now)
        let first: String
        switch phase {
        case .running: first = "running"
        case .failed: first = "failed"
        default: first = "completed"
        }
        var stages = [StageProgress(name: kind == .generation ? "edit" : kind.rawValue, status: first)]
        if kind == .generation {
            let second: String
            switch phase {
            case .running: second = "pending"
            case .secondStage: second = "running"
            case .completed: second = "completed"
            case .failed: second = "cancelled"
            }
            stages.append(StageProgress(name: "post_production", status: second))
        }
        return stages
    }

    /// The tools the agent calls (the names of the vendor's API reference).
    static let generationTool = "generate_video_with_seedance"
    static let editTool = "edit_multitrack"
    /// The tool results that never vary, made once (every message of a
    /// session keeps its events: a dictionary each would be paid per message).
    private static let generationResult: JSONValue = ["status": "completed", "stage": "edit", "second_stage": "started"]
    private static let editResult: JSONValue = ["status": "completed"]

    /// Plans an operation from the seeded generator of (seed, session,
    /// message index): its duration, whether it fails or ends silently, and
    /// its events.
    static func plan(
        kind: MessageKind, text: String, intent: MessageIntent, messageIndex: Int, startedAt: Double, cost: Int, draftIsEmpty: Bool,
        profile: BehaviourProfile, random: inout SeededRandom
    ) -> AgentOperation {
        let duration: Double
        switch kind {
        case .generation: duration = random.seconds(in: profile.generationDurationSeconds)
        case .edit: duration = random.seconds(in: profile.editDurationSeconds)
        case .reply: duration = random.seconds(in: profile.replyDurationSeconds)
        }
        let failed = kind != .reply && random.chance(profile.operationFailureRatio)
        let silent: Bool
        switch kind {
        case .edit: silent = random.chance(profile.silentCloseRatio)
        case .generation: silent = random.chance(profile.silentGenerationRatio)
        case .reply: silent = false
        }
        let temporaryIssue = random.chance(profile.temporaryIssueRatio)
        let secondStage = kind == .generation ? random.seconds(in: profile.secondStageDurationSeconds) : 0

        var events: [Milestone] = []
        let tool = kind == .generation ? generationTool : editTool
        if kind != .reply {
            events.append(Milestone(offset: 0.2, event: .toolCall(name: tool, args: [:]), carriesInstruction: true))
        }
        if failed {
            events.append(Milestone(
                offset: duration, event: .error(message: "The \(kind.rawValue) failed; no credits were charged. Please try again.", code: "operation_failed")))
        } else {
            switch kind {
            case .generation:
                events.append(Milestone(offset: duration, event: .toolResult(name: tool, result: generationResult)))
                if !silent { events.append(Milestone(offset: duration + 0.3, event: .text(Replies.generation(text, random: &random)))) }
            case .edit:
                events.append(Milestone(offset: duration, event: .toolResult(name: tool, result: editResult), deferred: .editResult))
                if !silent { events.append(Milestone(offset: duration + 0.3, event: .text(""), deferred: .editReply)) }
            case .reply:
                let reply = draftIsEmpty || intent.aspect == nil ? Replies.reply(text, random: &random) : Replies.aspectNeedsNewVideo(intent)
                events.append(Milestone(offset: duration, event: .text(reply)))
            }
            if temporaryIssue && !silent {
                events.append(Milestone(offset: (events.last?.offset ?? duration) + 0.2, event: .text("I encountered a temporary issue")))
            }
        }
        let schedule = EventSchedule(
            milestones: events, heartbeatInterval: profile.heartbeatIntervalSeconds, heartbeatsUntil: duration, messageIndex: messageIndex,
            instruction: text)
        return AgentOperation(
            messageIndex: messageIndex, kind: kind, text: text, startedAt: startedAt, workDuration: duration,
            secondStageEnd: kind == .generation ? duration + secondStage : nil, schedule: schedule, failed: failed,
            silentClose: silent, cost: cost, intent: intent.forgettingWords())
    }

    /// An edit's deferred event, as the applied edit tells it.
    func resolve(_ deferred: Deferred) -> AgentEvent {
        let outcome = self.outcome ?? DraftEditor.EditOutcome(unchanged: ["the edit has not been applied yet"])
        switch deferred {
        case .editResult:
            return .toolResult(name: Self.editTool, result: ["status": "completed", "changed": .bool(outcome.changed)])
        case .editReply:
            return .text(Replies.edit(outcome))
        }
    }
}

/// The words the simulated agent says, GUI talk included (clients must
/// translate "click Export" into an API action).
enum Replies {
    static func generation(_ text: String, random: inout SeededRandom) -> String {
        pick([
            "Your video is ready on the timeline. I'm adding background music and a title now. Click Export when you're happy with it.",
            "Done! I've assembled your clips into a first cut; music and a title overlay are being added. Preview it in the timeline, then click Export.",
            "I've created the video from your media. Background music and a title are on their way. Drag the clips to reorder them, or click Export.",
        ], &random)
    }

    /// An edit's reply: the changes it made, in specifics; or, when it made
    /// none, why (never a claim of a change).
    static func edit(_ outcome: DraftEditor.EditOutcome) -> String {
        if outcome.changed {
            var text = "Done: " + outcome.changes.joined(separator: "; ") + ". Preview it in the timeline, then click Export."
            if !outcome.unchanged.isEmpty { text += " Not changed: " + outcome.unchanged.joined(separator: "; ") + "." }
            return text
        }
        return "I didn't change anything: " + outcome.unchanged.joined(separator: "; ") + "."
    }

    /// A new aspect ratio on an existing video: a new video is needed.
    static func aspectNeedsNewVideo(_ intent: MessageIntent) -> String {
        let ratio = intent.aspect?.aspectRatio ?? "another aspect ratio"
        return "Changing the video to \(ratio) means generating it again: say \"regenerate it in \(ratio)\" to do that. Nothing has changed yet."
    }

    static func reply(_ text: String, random: inout SeededRandom) -> String {
        pick([
            "I can turn your images and clips into a video. Upload them, then tell me what you'd like, for example a 30-second promo with music and captions.",
            "Sure! Tell me what video you'd like and I'll put it together. You can add music, titles and captions.",
            "Happy to help. Upload your media and describe the video; I'll build it on the timeline.",
        ], &random)
    }

    private static func pick(_ options: [String], _ random: inout SeededRandom) -> String {
        options[Int.random(in: 0..<options.count, using: &random)]
    }
}
