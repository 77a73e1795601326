public import ConnectorProtocol
public import Foundation

/// The plugin's private folder (mode 0700, beside its socket in the host's runtime folder) for what a
/// source run reads: its configuration with the vault's secrets in it (0600, removed when the run ends),
/// the configured catalog and the state to start from. It is the source's `HOME` as well, which tells the
/// source's processes apart from any other.
public struct AirbyteWorkspace: Sendable {
    public let directory: String

    /// A new folder under `parent` (the folder of the plugin's socket, or the temporary folder).
    public init(parent: String, connector: String) throws {
        var template = Array("\(parent)/\(Self.prefix(connector))XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ConnectorError(.permanent, "cannot make a private folder in \(parent): \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
    }

    static func prefix(_ connector: String) -> String { "airbyte-\(connector)." }

    /// What an earlier run of this connector's plugin left when it was killed outright (it could not stop
    /// its source): the source's processes still running, found by the `HOME` they were given (their
    /// folder), are killed, and the folders removed with the secrets in them. Returns the folders swept
    /// and the processes killed.
    public static func sweep(parent: String, connector: String) -> (folders: [String], killed: [Int32]) {
        let prefix = prefix(connector)
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [])
            .filter { $0.hasPrefix(prefix) && $0.count == prefix.count + 6 }
            .map { "\(parent)/\($0)" }
        guard !left.isEmpty else { return ([], []) }
        let homes = Set(left.map { "HOME=\($0)" })
        var killed: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                  let environment = FileManager.default.contents(atPath: "/proc/\(entry)/environ")
            else { continue }
            let variables = environment.split(separator: 0).lazy.map { String(decoding: $0, as: UTF8.self) }
            if variables.contains(where: homes.contains), kill(pid, SIGKILL) == 0 { killed.append(pid) }
        }
        for folder in left { try? FileManager.default.removeItem(atPath: folder) }
        return (left, killed)
    }

    /// Writes `data` to `name` in the folder, readable by this user only.
    @discardableResult
    public func write(_ name: String, _ data: Data) throws -> String {
        let path = "\(directory)/\(name)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ConnectorError(.transient, "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == data.count else { throw ConnectorError(.transient, "cannot write \(path): \(String(cString: strerror(errno)))") }
        return path
    }

    public func remove(_ name: String) {
        unlink("\(directory)/\(name)")
    }

    /// Removes the folder and what is in it.
    public func removeAll() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The source's configuration with each secret put at its dotted path (`credentials.api_key`).
    public static func configuration(_ source: JSONValue, secrets: [String: String]) -> JSONValue {
        var config = source
        for (path, value) in secrets.sorted(by: { $0.key < $1.key }) {
            config = setting(config, at: path.split(separator: ".").map(String.init)[...], to: .string(value))
        }
        return config
    }

    private static func setting(_ json: JSONValue, at path: ArraySlice<String>, to value: JSONValue) -> JSONValue {
        guard let first = path.first else { return value }
        var object = json.objectValue ?? [:]
        object[first] = setting(object[first] ?? .object([:]), at: path.dropFirst(), to: value)
        return .object(object)
    }
}
