public import ConnectorProtocol

/// A connector's `[connector.config]` table read with types. Every problem names its key (dotted for
/// nested tables: `taxes.2.20`); a key the connector does not know is an error suggesting the closest
/// known one; a value of the wrong type is an error, never silently the default.
public struct ConfigTable: Sendable {
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public var key: String
        public var message: String
        public var description: String { "\(key): \(message)" }

        public init(key: String, message: String) {
            self.key = key
            self.message = message
        }
    }

    let values: [String: JSONValue]
    /// The dotted path of this table (`taxes.2`), empty at the top.
    let path: String

    /// - Parameters:
    ///   - known: every key the connector reads; nil for a table whose keys are data (ids, rates).
    ///   - connector: what the "is not a setting of …" message calls it (`the Odoo connector`).
    public init(_ config: JSONValue, known: Set<String>?, connector: String) throws(Problem) {
        guard let values = config.objectValue ?? (config == .null ? [:] : nil) else {
            throw Problem(key: "[connector.config]", message: "must be a table")
        }
        self.init(values: values, path: "")
        guard let known else { return }
        for key in values.keys.sorted() where !known.contains(key) {
            let hint = Spelling.closest(to: key, in: known.sorted()).map { "did you mean \($0)? " } ?? ""
            throw Problem(key: key, message: "is not a setting of \(connector) (\(hint)known: \(known.sorted().joined(separator: ", ")))")
        }
    }

    init(values: [String: JSONValue], path: String) {
        self.values = values
        self.path = path
    }

    /// The dotted name of `key` in this table.
    public func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public func contains(_ key: String) -> Bool { values[key] != nil && values[key] != .null }

    /// The keys present, sorted.
    public var keys: [String] { values.keys.sorted() }

    public func string(_ key: String) throws(Problem) -> String? {
        switch values[key] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw Problem(key: name(key), message: "must be a string")
        }
    }

    public func string(_ key: String, default fallback: String) throws(Problem) -> String {
        try string(key) ?? fallback
    }

    /// The problem a connector's settings find in `config` (its message names the key), or nil: what
    /// a connector's ``Connector/configProblem(_:)`` answers (`ConfigTable.problem(MySettings.init, config)`).
    public static func problem<Settings>(_ settings: (JSONValue) throws(Problem) -> Settings, _ config: JSONValue) -> String? {
        do {
            _ = try settings(config)
            return nil
        } catch {
            return error.description
        }
    }

    /// A vendor's base URL, without a trailing slash: `https://`, or plain `http://` on loopback only
    /// (the fakes of the tests).
    public func baseURL(_ key: String) throws(Problem) -> String? {
        guard var url = try string(key) else { return nil }
        while url.hasSuffix("/") { url.removeLast() }
        guard url.hasPrefix("https://") || url.hasPrefix("http://127.0.0.1") || url.hasPrefix("http://localhost") else {
            throw Problem(key: name(key), message: "\"\(url)\" must be https:// (plain http only on loopback, for fakes)")
        }
        return url
    }

    public func baseURL(_ key: String, default fallback: String) throws(Problem) -> String {
        try baseURL(key) ?? fallback
    }

    /// A table naming, for members of a canonical record (`balance_due`, …), the vendor's fields they
    /// are written to; a member that is not one is refused with the closest known one.
    public func fieldNames(_ key: String, members: [String], what: String) throws(Problem) -> [String: String] {
        let names = try table(key)
        var fields: [String: String] = [:]
        for member in names.keys {
            guard members.contains(member) else {
                let hint = Spelling.closest(to: member, in: members).map { "did you mean \($0)? " } ?? ""
                throw Problem(key: names.name(member), message: "is not a member of \(what) (\(hint)known: \(members.joined(separator: ", ")))")
            }
            fields[member] = try names.required(member)
        }
        return fields
    }

    /// A string that must be there and not empty.
    public func required(_ key: String) throws(Problem) -> String {
        guard let text = try? string(key), !text.isEmpty else { throw Problem(key: name(key), message: "is required (a string)") }
        return text
    }

    public func int(_ key: String) throws(Problem) -> Int64? {
        switch values[key] {
        case nil, .null?: return nil
        case .int(let number)?: return number
        default: throw Problem(key: name(key), message: "must be an integer")
        }
    }

    /// An integer within `range`; `message` says what it must be when it is not.
    public func int(_ key: String, default fallback: Int, in range: ClosedRange<Int>, _ message: String? = nil) throws(Problem) -> Int {
        guard let number = try int(key) else { return fallback }
        guard number >= Int64(range.lowerBound), number <= Int64(range.upperBound) else {
            throw Problem(key: name(key), message: message ?? "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return Int(number)
    }

    /// An array of strings (`["a", "b"]`); `fallback` when absent.
    public func strings(_ key: String, default fallback: [String]) throws(Problem) -> [String] {
        switch values[key] {
        case nil, .null?: return fallback
        case .array(let elements)?:
            var texts: [String] = []
            for (index, element) in elements.enumerated() {
                guard case .string(let text) = element, !text.isEmpty else { throw Problem(key: "\(name(key))[\(index)]", message: "must be a non-empty string") }
                texts.append(text)
            }
            return texts
        default: throw Problem(key: name(key), message: "must be an array of strings")
        }
    }

    public func bool(_ key: String, default fallback: Bool) throws(Problem) -> Bool {
        switch values[key] {
        case nil, .null?: return fallback
        case .bool(let flag)?: return flag
        default: throw Problem(key: name(key), message: "must be true or false")
        }
    }

    /// One of `choices` (the first is the default).
    public func choice(_ key: String, among choices: [String]) throws(Problem) -> String {
        let text = try string(key) ?? choices[0]
        guard choices.contains(text) else { throw Problem(key: name(key), message: "\"\(text)\" is not one of \(choices.joined(separator: ", "))") }
        return text
    }

    /// A nested table (empty when absent).
    public func table(_ key: String) throws(Problem) -> ConfigTable {
        switch values[key] {
        case nil, .null?: return ConfigTable(values: [:], path: name(key))
        case .object(let members)?: return ConfigTable(values: members, path: name(key))
        default: throw Problem(key: name(key), message: "must be a table")
        }
    }

    /// A table of name = positive id (Odoo record ids); `what` names the id in the message.
    public func ids(_ key: String, what: String = "a positive Odoo id") throws(Problem) -> [String: Int64] {
        let table = try table(key)
        var ids: [String: Int64] = [:]
        for name in table.keys {
            guard case .int(let id)? = table.values[name], id > 0 else { throw Problem(key: table.name(name), message: "must be \(what)") }
            ids[name] = id
        }
        return ids
    }
}
