import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The secret values the daemon knows (vault entries, tokens), and the one place that masks them:
/// every log handler runs each message and metadata value through ``redact(_:)`` before writing it.
///
/// Values are matched as UTF-8 bytes, not as `Character`s: a secret followed by a combining mark
/// (`"…secret\u{301}"`) forms a different last grapheme, which a `Character`-wise search would miss;
/// a byte search finds it. Unicode normalisation is not applied: a secret is found as it was
/// registered.
///
/// Registrations are counted, so two connectors holding the same value can each register and
/// unregister it without unmasking it for the other.
public final class Redactor: Sendable {
    /// What replaces a secret value.
    public static let replacement = "[redacted]"

    /// Values shorter than this many UTF-8 bytes are not registered. A short value ("true", "1234",
    /// "admin") is too likely to occur in ordinary text: masking it would garble unrelated log lines
    /// (and hint at the secret by where `[redacted]` shows up) while protecting little, since such a
    /// value is guessable anyway.
    public static let minimumLength = 6

    private struct State {
        var counts: [String: Int] = [:]
        /// The registered values as bytes, longest first: when one secret contains another, the
        /// longer one is replaced whole.
        var needles: [[UInt8]] = []
    }

    private let state = Mutex(State())
    /// How many distinct values are registered; read without the lock on every log line.
    private let count = Atomic<Int>(0)

    public init() {}

    /// Masks `value` from now on. Values shorter than ``minimumLength`` bytes are ignored.
    public func register(_ value: String) {
        guard value.utf8.count >= Self.minimumLength else { return }
        state.withLock { state in
            state.counts[value, default: 0] += 1
            if state.counts[value] == 1 { rebuild(&state) }
        }
    }

    /// Undoes one ``register(_:)`` of `value`; it stays masked while other registrations remain.
    public func unregister(_ value: String) {
        state.withLock { state in
            guard let current = state.counts[value] else { return }
            if current > 1 {
                state.counts[value] = current - 1
            } else {
                state.counts[value] = nil
                rebuild(&state)
            }
        }
    }

    /// `text` with every occurrence of every registered value replaced by ``replacement``.
    public func redact(_ text: String) -> String {
        // Fast path: nothing registered (the common case before the vault opens, and in tests).
        if count.load(ordering: .acquiring) == 0 { return text }
        let needles = state.withLock { $0.needles }
        var bytes = Array(text.utf8)
        var changed = false
        for needle in needles where bytes.count >= needle.count {
            if let replaced = Self.replace(needle, in: bytes) {
                bytes = replaced
                changed = true
            }
        }
        // A match of a valid UTF-8 value inside valid UTF-8 text starts and ends on scalar
        // boundaries, so the result is valid UTF-8 too.
        return changed ? String(decoding: bytes, as: UTF8.self) : text
    }

    private func rebuild(_ state: inout State) {
        state.needles = Set(state.counts.keys.flatMap(Self.needles)).sorted { $0.count > $1.count }
        count.store(state.needles.count, ordering: .releasing)
    }

    /// What to look for of a value: the value, and each of its lines long enough to register on its
    /// own. A plugin that prints a multi-line secret (a PEM key) to stdout or stderr is logged a line at
    /// a time, so no log line holds the whole value.
    static func needles(_ value: String) -> [[UInt8]] {
        let lines = value.split(whereSeparator: \.isNewline).map { Array($0.utf8) }.filter { $0.count >= minimumLength }
        return [Array(value.utf8)] + (lines.count > 1 ? lines : [])
    }

    /// `haystack` with every non-overlapping occurrence of `needle` replaced; nil when there is none.
    /// A candidate is found by its first byte with memchr(3) and confirmed with memcmp(3).
    private static func replace(_ needle: [UInt8], in haystack: [UInt8]) -> [UInt8]? {
        haystack.withUnsafeBufferPointer { hay -> [UInt8]? in
            needle.withUnsafeBufferPointer { pin -> [UInt8]? in
                guard let hayBase = hay.baseAddress, let pinBase = pin.baseAddress else { return nil }
                let first = Int32(pin[0])
                var result: [UInt8] = []
                var copied = 0
                var position = 0
                while position + pin.count <= hay.count,
                      let found = memchr(hayBase + position, first, hay.count - pin.count + 1 - position) {
                    let start = UnsafeRawPointer(hayBase).distance(to: UnsafeRawPointer(found))
                    guard memcmp(hayBase + start, pinBase, pin.count) == 0 else {
                        position = start + 1
                        continue
                    }
                    if result.isEmpty { result.reserveCapacity(hay.count) }
                    result.append(contentsOf: hay[copied..<start])
                    result.append(contentsOf: replacementBytes)
                    copied = start + pin.count
                    position = copied
                }
                guard copied > 0 else { return nil }
                result.append(contentsOf: hay[copied...])
                return result
            }
        }
    }

    private static let replacementBytes = Array(replacement.utf8)
}
