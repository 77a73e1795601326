public import Foundation

/// The start of what a system said (an HTTP body, a line of output) for an error message: short, on one
/// line, and marked when cut.
public enum TextExcerpt {
    /// At most `limit` bytes of `bytes` as text, line breaks as spaces, "…" after it when cut. A character
    /// the limit cuts in two is left out rather than shown as U+FFFD.
    public static func of(_ bytes: Data, limit: Int = 160) -> String {
        var text = String(decoding: bytes.prefix(limit), as: UTF8.self)
        if bytes.count > limit {
            if text.last == "\u{FFFD}" { text.removeLast() }
            text += "…"
        }
        return text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).joined(separator: " ")
    }
}
