import Foundation
import NemoCore

/// What the HTTP front streams for one `/run_sse` request.
public struct StreamPlan: Sendable {
    public var sessionID: String
    public var messageIndex: Int
    /// Simulated seconds since origin when the operation started.
    public var startedAt: Double
    /// The operation's events.
    public var schedule: EventSchedule
    /// How many of them to skip (they were sent before a reconnect).
    public var skip: Int

    /// The events still to send, in order (materialised; streams walk
    /// ``remaining`` instead).
    public var events: [PlannedEvent] { Array(remaining) }

    /// The events still to send, generated as they are walked.
    public var remaining: DropFirstSequence<EventSchedule> { schedule.dropFirst(skip) }
    public var dialect: SSEDialect
    /// Whether this request resumed a running operation (`Last-Event-ID`).
    public var resumed: Bool
    /// Whether events carry `id:` lines.
    public var eventIDs: Bool
    /// Whether the stream ends before the work does, saying nothing (the
    /// operation's silent close).
    public var silentClose = false

    /// The absolute simulated time of an event.
    public func time(of event: PlannedEvent) -> Double { time(atOffset: event.offset) }

    /// The simulated time of an event this many seconds into the operation.
    public func time(atOffset offset: Double) -> Double { startedAt + offset }

    /// The `data` text of an event in this plan's dialect.
    public func data(for event: PlannedEvent, clock: any SimulationClock) -> String {
        AgentEventEncoder.data(
            for: event.event, dialect: dialect,
            context: .init(
                invocationID: "inv_\(sessionID)_\(messageIndex)", eventID: event.id,
                timestamp: clock.origin.addingTimeInterval(time(of: event)).timeIntervalSince1970))
    }
}

extension Simulation {
    /// `POST /run_sse`: starts an operation (credits frozen; 2001 before any
    /// stream when they do not suffice). With the profile's `stream_resume`,
    /// a `Last-Event-ID` naming an event of this session resumes that
    /// operation's stream after it, starting and charging nothing; without
    /// it (the default: no vendor text mentions resuming), the header is
    /// ignored and the message is a new operation.
    public func startMessage(
        token: String?, missingAttribution: [String] = [], request: RunSSERequest, lastEventID: String?
    ) throws(SimulatorFailure) -> StreamPlan {
        settle()
        let userID = try resolveUser(request.userID, token: token, scope: Route.runSSE.scope, missingAttribution: missingAttribution)
        let sessionID = try touchSession(request.sessionID, userID: userID)
        let profile = self.profile
        if profile.streamResume, let lastEventID, let plan = resumePlan(sessionID: sessionID, lastEventID: lastEventID) {
            return plan
        }
        guard request.newMessage.text.utf8.count <= profile.maxMessageBytes else {
            throw .badRequest(
                "the message is \(request.newMessage.text.utf8.count) bytes, more than \(profile.maxMessageBytes): send a shorter message (describe media by uploading it)")
        }
        let text = request.newMessage.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            throw .badRequest("new_message.parts[].text is empty: send the user's message as {\"new_message\": {\"parts\": [{\"text\": \"...\"}]}}")
        }
        let intent = MessageIntent(text)
        let draftIsEmpty = !sessions[sessionID]!.draft.isReadyForExport
        let kind = MessageKind.classify(intent, draftIsEmpty: draftIsEmpty, profile: profile)
        var cost = kind.cost(profile)
        if kind == .edit && profile.editCharge == .perSession && sessions[sessionID]!.editCharge != .none { cost = 0 }
        let account = accounts[userID]!
        guard account.available >= cost else {
            let next = account.registered
                ? "top up at \(profile.webAppURL)"
                : "register at \(profile.webAppURL)/register?bind=\(userID) to get more"
            throw .code(.outOfCredits, "not enough credits: this \(kind.rawValue) needs \(cost), \(account.available) available: \(next)")
        }
        // In place: a session's operation list is never copied.
        sessions[sessionID]!.messageCount += 1
        let messageIndex = sessions[sessionID]!.messageCount
        var random = SeededRandom(seed: seed, subject: "message/" + sessionID, index: messageIndex)
        let operation = AgentOperation.plan(
            kind: kind, text: text, intent: intent, messageIndex: messageIndex, startedAt: now, cost: cost, draftIsEmpty: draftIsEmpty,
            profile: profile, random: &random)
        sessions[sessionID]!.operations.append(operation)
        journalNote?.operation(endsAt: operation.startedAt + (operation.secondStageEnd ?? operation.workDuration))
        if kind == .edit && cost > 0 && profile.editCharge == .perSession { sessions[sessionID]!.editCharge = .pending(messageIndex) }
        scheduleEffects(of: operation, sessionID: sessionID)
        freeze(cost, userID: userID)
        var plan = StreamPlan(
            sessionID: sessionID, messageIndex: operation.messageIndex, startedAt: operation.startedAt, schedule: operation.schedule, skip: 0,
            dialect: profile.sseDialect, resumed: false, eventIDs: profile.sseEventIDs)
        plan.silentClose = operation.silentClose
        return plan
    }

    private func resumePlan(sessionID: String, lastEventID: String) -> StreamPlan? {
        let parts = lastEventID.split(separator: "-")
        guard parts.count == 2, let index = Int(parts[0]), let number = Int(parts[1]),
            let operations = sessions[sessionID]?.operations, operations.indices.contains(index - 1)
        else { return nil }
        let operation = operations[index - 1]
        var plan = StreamPlan(
            sessionID: sessionID, messageIndex: index, startedAt: operation.startedAt,
            schedule: operation.schedule, skip: max(0, number), dialect: profile.sseDialect, resumed: true, eventIDs: profile.sseEventIDs)
        plan.silentClose = operation.silentClose
        return plan
    }

    /// An event that waited for the work: as the applied edit tells it.
    func resolve(_ deferred: Deferred, sessionID: String, messageIndex: Int) -> AgentEvent {
        settle()
        guard let operations = sessions[sessionID]?.operations, operations.indices.contains(messageIndex - 1) else {
            return .text("The session is gone.")
        }
        return operations[messageIndex - 1].resolve(deferred)
    }
}
