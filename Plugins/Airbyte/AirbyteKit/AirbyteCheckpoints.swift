public import ConnectorProtocol

/// Airbyte's checkpoint rule, as a state machine without I/O: the cursor moves only with a `STATE`
/// message, past the records before it. Each `STATE` closes a chunk (its records and the state after
/// them), and the host takes chunks whole, each page's cursor the state after its last chunk. Records go
/// out under the state before them only when they cannot wait for theirs: a chunk larger than a page, or
/// a source that checkpoints rarely or never (``take(limit:uncommitted:)``). A crash in between reads them
/// again from that state, and their idempotency keys make the repeat harmless. A read that ends well
/// commits what follows its last `STATE` (``end()``), as Airbyte's destinations do at a sync's end.
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
    /// Its cursor (the host's, before any `STATE`).
    private var latestCursor: String?
    private var pendingEvents: [Event] = []
    private var pendingRejects: [SourceReject] = []
    private var chunks: [Chunk] = []
    private var chunkStart = 0

    public init(cursor: String?) throws(AirbyteLineProblem) {
        takenCursor = cursor
        latestCursor = cursor
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
        latestCursor = state.cursor
        closeChunk()
    }

    /// The read ended well: what followed its last `STATE` is read too.
    public mutating func end() {
        guard uncommitted > 0 else { return }
        closeChunk()
    }

    private mutating func closeChunk() {
        chunks.append(Chunk(events: pendingEvents, rejects: pendingRejects, cursor: latestCursor ?? state.cursor))
        ready += pendingEvents.count + pendingRejects.count
        pendingEvents = []
        pendingRejects = []
    }

    /// Up to `limit` checkpointed records (part of a chunk when one is larger than that), and the cursor to
    /// store with them. With `uncommitted`, and nothing checkpointed, records still waiting for their
    /// `STATE` go, under the cursor taken last.
    public mutating func take(limit: Int, uncommitted: Bool = false) -> (events: [Event], rejects: [SourceReject], cursor: String?) {
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
        if uncommitted && events.isEmpty && rejects.isEmpty && chunkStart == chunks.count {
            let eventCount = min(limit, pendingEvents.count)
            events = Array(pendingEvents.prefix(eventCount))
            rejects = Array(pendingRejects.prefix(limit - eventCount))
            pendingEvents.removeFirst(eventCount)
            pendingRejects.removeFirst(rejects.count)
            return (events, rejects, takenCursor)
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
