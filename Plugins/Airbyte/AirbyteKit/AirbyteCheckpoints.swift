public import ConnectorProtocol

/// Airbyte's checkpoint rule, as a state machine without I/O: a record counts as read only once a `STATE`
/// message follows it. Records since the last one wait; each `STATE` closes a chunk (its records and the
/// state after them), and the host takes chunks whole, each page's cursor the state after its last chunk.
/// A chunk larger than a page goes out in parts, all but the last under the state before the chunk: a
/// crash in between reads them again from there, and their idempotency keys make the repeat harmless.
public struct AirbyteCheckpoints: Sendable {
    struct Chunk: Sendable {
        var events: [Event]
        var rejects: [SourceReject]
        var cursor: String
    }

    /// The cursor of the last page taken (the host's, at the start): what a part of a chunk goes out under.
    public private(set) var takenCursor: String?
    /// The state after every `STATE` seen so far.
    public private(set) var state: AirbyteState
    private var pendingEvents: [Event] = []
    private var pendingRejects: [SourceReject] = []
    private var chunks: [Chunk] = []
    private var chunkStart = 0

    public init(cursor: String?) throws(AirbyteLineProblem) {
        takenCursor = cursor
        state = try AirbyteState(cursor: cursor)
    }

    /// Records read but not yet followed by a `STATE`: lost if the source stops now.
    public var uncommitted: Int { pendingEvents.count + pendingRejects.count }
    /// Records (and rejects) checkpointed and not yet taken.
    public private(set) var ready = 0
    /// Whether a `STATE` arrived that no page has carried to the host yet.
    public var hasReadyState: Bool { chunkStart < chunks.count }

    public mutating func record(_ event: Event) {
        pendingEvents.append(event)
    }

    public mutating func reject(_ reject: SourceReject) {
        pendingRejects.append(reject)
    }

    /// A `STATE` message: what came before it is read.
    public mutating func checkpoint(_ message: JSONValue) {
        state.apply(message)
        chunks.append(Chunk(events: pendingEvents, rejects: pendingRejects, cursor: state.cursor))
        ready += pendingEvents.count + pendingRejects.count
        pendingEvents = []
        pendingRejects = []
    }

    /// Up to `limit` checkpointed records (at least one chunk's worth when a chunk is cut), and the cursor
    /// to store with them.
    public mutating func take(limit: Int) -> (events: [Event], rejects: [SourceReject], cursor: String?) {
        let limit = max(1, limit)
        var events: [Event] = []
        var rejects: [SourceReject] = []
        var cursor = takenCursor
        while chunkStart < chunks.count {
            let chunk = chunks[chunkStart]
            let size = chunk.events.count + chunk.rejects.count
            if events.count + rejects.count + size <= limit {
                events += chunk.events
                rejects += chunk.rejects
                cursor = chunk.cursor
                chunkStart += 1
                continue
            }
            if events.isEmpty && rejects.isEmpty {
                // A chunk larger than a page: its first part, under the state before it.
                let eventCount = min(limit, chunk.events.count)
                events = Array(chunk.events.prefix(eventCount))
                rejects = Array(chunk.rejects.prefix(limit - eventCount))
                chunks[chunkStart].events.removeFirst(eventCount)
                chunks[chunkStart].rejects.removeFirst(rejects.count)
            }
            break
        }
        if chunkStart > 64 && chunkStart * 2 > chunks.count {
            chunks.removeFirst(chunkStart)
            chunkStart = 0
        }
        ready -= events.count + rejects.count
        takenCursor = cursor
        return (events, rejects, cursor)
    }
}
