/// A span of seconds as an operator reads it, in its two largest units: `42s`, `3m12s`, `5h4m`, `2d3h`;
/// `-` for none. What hostctl's tables and the status page show.
public func duration(_ seconds: Double?) -> String {
    guard let seconds else { return "-" }
    let total = Int(seconds)
    if total < 60 { return "\(total)s" }
    if total < 3600 { return "\(total / 60)m\(total % 60)s" }
    if total < 86400 { return "\(total / 3600)h\(total % 3600 / 60)m" }
    return "\(total / 86400)d\(total % 86400 / 3600)h"
}
