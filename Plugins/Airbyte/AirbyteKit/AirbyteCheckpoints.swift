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
        /// The state after the chunk, as JSON (``AirbyteState/cursor``).
        var state: String
    }

    /// The cursor of the last page taken (the host's, at the start). Every page with records has a cursor
    /// of its own, even under the same state: the next poll tells by its cursor whether the host kept it.
    public private(set) var takenCursor: String?
    /// The state of that page, as JSON.
    private var takenState: String?
    /// The state after every `STATE` seen so far.
    public private(set) var state: AirbyteState
    private var pendingEvents: [Event] = []
    private var pendingRejects: [SourceReject] = []
    private var chunks: [Chunk] = []
    private var chunkStart = 0
    /// The last page taken and the cursor before it, for a host that asks for it again.
    private var lastPage: (before: String?, events: [Event], rejects: [SourceReject], cursor: String)?
    /// Names this run's pages: `{"run": …, "page": n, "state": […]}`.
    private let run: String
    private var page = 0

    public init(cursor: String?, run: String = String(UInt32.random(in: .min ... .max), radix: 16)) throws(AirbyteLineProblem) {
        state = try AirbyteState(cursor: cursor)
        takenCursor = cursor
        takenState = cursor == nil ? nil : state.cursor
        self.run = run
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
        closeChunk(state: state.cursor)
    }

    /// The read ended well: what followed its last `STATE` is read too, under that state.
    public mutating func end() {
        guard uncommitted > 0 else { return }
        closeChunk(state: chunks.last?.state ?? takenState ?? state.cursor)
    }

    private mutating func closeChunk(state: String) {
        chunks.append(Chunk(events: pendingEvents, rejects: pendingRejects, state: state))
        ready += pendingEvents.count + pendingRejects.count
        pendingEvents = []
        pendingRejects = []
    }

    /// Up to `limit` checkpointed records (part of a chunk when one is larger than that), and the cursor to
    /// store with them. With `uncommitted`, and nothing checkpointed, records still waiting for their
    /// `STATE` go, under the state taken last.
    public mutating func take(limit: Int, uncommitted: Bool = false) -> (events: [Event], rejects: [SourceReject], cursor: String?) {
        let limit = max(1, limit)
        var events: [Event] = []
        var rejects: [SourceReject] = []
        var pageState = takenState
        var moved = false
        while chunkStart < chunks.count {
            let chunk = chunks[chunkStart]
            let size = chunk.events.count + chunk.rejects.count
            if events.count + rejects.count + size <= limit {
                events += chunk.events
                rejects += chunk.rejects
                pageState = chunk.state
                moved = true
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
        ready -= events.count + rejects.count
        if uncommitted && events.isEmpty && rejects.isEmpty && chunkStart == chunks.count {
            let eventCount = min(limit, pendingEvents.count)
            events = Array(pendingEvents.prefix(eventCount))
            rejects = Array(pendingRejects.prefix(limit - eventCount))
            pendingEvents.removeFirst(eventCount)
            pendingRejects.removeFirst(rejects.count)
        }
        if chunkStart > 64 && chunkStart * 2 > chunks.count {
            chunks.removeFirst(chunkStart)
            chunkStart = 0
        }
        guard moved || !events.isEmpty || !rejects.isEmpty else { return ([], [], takenCursor) }
        page += 1
        let cursor = #"{"page":\#(page),"run":"\#(run)","state":\#(pageState ?? "[]")}"#
        lastPage = (takenCursor, events, rejects, cursor)
        takenCursor = cursor
        takenState = pageState
        return (events, rejects, cursor)
    }

    /// The last page again, when the host asks from the cursor before it: it did not keep that page (its
    /// store refused it, or its poll timed out before the answer came). Nil for any other cursor.
    public func lastPage(after cursor: String?) -> (events: [Event], rejects: [SourceReject], cursor: String)? {
        guard let lastPage, lastPage.before == cursor, lastPage.cursor == takenCursor else { return nil }
        return (lastPage.events, lastPage.rejects, lastPage.cursor)
    }
}
