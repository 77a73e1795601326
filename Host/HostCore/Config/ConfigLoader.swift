import ConnectorProtocol
import Crypto
import Foundation
import TOMLKit

/// One thing wrong with the configuration, located as precisely as the file allows.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    /// The key's path, e.g. `connector[2].plugin` (empty for a syntax error).
    public var key: String
    public var message: String

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return key.isEmpty ? "\(location): \(message)" : "\(location): \(key): \(message)"
    }
}

/// The configuration could not be used; every problem found is listed.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Reads `host.toml` and its `connectors.d/*.toml` drop-ins, checks every key, finds each plugin's
/// executable and verifies pinned hashes. Errors name the file, the line and the key.
public enum ConfigLoader {
    public static func load(path: String) throws(ConfigError) -> HostConfig {
        var problems: [ConfigProblem] = []
        let hostURL = URL(fileURLWithPath: path).standardizedFileURL
        let baseDirectory = hostURL.deletingLastPathComponent().path
        guard let host = ParsedFile.read(hostURL.path, problems: &problems) else {
            throw ConfigError(problems: problems)
        }

        var root = TableReader(file: host, section: .root, problems: problems)
        let stateDirectory = resolve(root.string("state_dir") ?? HostConfig.defaultStateDirectory, against: baseDirectory)
        let runtimeDirectory = resolve(root.string("runtime_dir") ?? HostConfig.defaultRuntimeDirectory, against: baseDirectory)
        let pluginDirectories = (root.stringArray("plugin_dirs") ?? HostConfig.defaultPluginDirectories)
            .map { resolve($0, against: baseDirectory) }
        let adminSocket = resolve(root.string("admin_socket") ?? "\(runtimeDirectory)/admin.sock", against: baseDirectory)
        let logLevel = root.string("log_level", allowed: ["trace", "debug", "info", "notice", "warning", "error", "critical"]) ?? "info"
        let logTarget = root.string("log_target", allowed: ["auto", "journal", "stderr"]) ?? "auto"
        var supervisor = SupervisorSettings()
        if let table = root.table("supervisor") {
            var reader = TableReader(file: host, section: .table("supervisor"), values: table, problems: root.problems)
            supervisor.handshakeTimeoutMilliseconds = reader.positiveInt("handshake_timeout_ms") ?? supervisor.handshakeTimeoutMilliseconds
            supervisor.pingIntervalMilliseconds = reader.positiveInt("ping_interval_ms") ?? supervisor.pingIntervalMilliseconds
            supervisor.pingTimeoutMilliseconds = reader.positiveInt("ping_timeout_ms") ?? supervisor.pingTimeoutMilliseconds
            supervisor.restartBackoffMilliseconds = reader.positiveInt("restart_backoff_ms") ?? supervisor.restartBackoffMilliseconds
            supervisor.restartBackoffMaxMilliseconds = reader.positiveInt("restart_backoff_max_ms") ?? supervisor.restartBackoffMaxMilliseconds
            supervisor.crashLimit = reader.positiveInt("crash_limit") ?? supervisor.crashLimit
            supervisor.crashWindowSeconds = reader.positiveInt("crash_window_s") ?? supervisor.crashWindowSeconds
            supervisor.stableAfterSeconds = reader.positiveInt("stable_after_s") ?? supervisor.stableAfterSeconds
            supervisor.shutdownGraceMilliseconds = reader.positiveInt("shutdown_grace_ms") ?? supervisor.shutdownGraceMilliseconds
            reader.rejectUnknownKeys(allowed: [
                "handshake_timeout_ms", "ping_interval_ms", "ping_timeout_ms", "restart_backoff_ms",
                "restart_backoff_max_ms", "crash_limit", "crash_window_s", "stable_after_s", "shutdown_grace_ms",
            ])
            root.problems = reader.problems
        }
        let vaultKeyFile = resolve(root.string("vault_key_file") ?? "\(stateDirectory)/vault.key", against: baseDirectory)
        var http: HTTPSettings?
        if let table = root.table("http") {
            var reader = TableReader(file: host, section: .table("http"), values: table, problems: root.problems)
            var settings = HTTPSettings()
            settings.listen = reader.address("listen")
            // /metrics and /healthz never share the webhook listener: loopback unless said otherwise, "" for none.
            if case .string("") = table["metrics_listen"] {
                settings.metricsListen = nil
            } else {
                settings.metricsListen = reader.address("metrics_listen") ?? HTTPSettings.defaultMetricsListen
            }
            settings.maxBodyBytes = reader.positiveInt("max_body_bytes") ?? settings.maxBodyBytes
            settings.webhookRateLimit = reader.rateLimit("webhook_rate_limit") ?? settings.webhookRateLimit
            settings.maxConnections = reader.positiveInt("max_connections") ?? settings.maxConnections
            settings.headerTimeoutMilliseconds = reader.positiveInt("header_timeout_ms") ?? settings.headerTimeoutMilliseconds
            settings.bodyTimeoutMilliseconds = reader.positiveInt("body_timeout_ms") ?? settings.bodyTimeoutMilliseconds
            settings.idleTimeoutMilliseconds = reader.positiveInt("idle_timeout_ms") ?? settings.idleTimeoutMilliseconds
            reader.rejectUnknownKeys(allowed: [
                "listen", "metrics_listen", "max_body_bytes", "webhook_rate_limit", "max_connections",
                "header_timeout_ms", "body_timeout_ms", "idle_timeout_ms",
            ])
            root.problems = reader.problems
            http = settings
        }
        var store = StoreSettings.sqlite
        if let table = root.table("store") {
            var reader = TableReader(file: host, section: .table("store"), values: table, problems: root.problems)
            store = reader.storeSettings(resolving: { resolve($0, against: baseDirectory) })
            root.problems = reader.problems
        }
        var connectorTables: [(ParsedFile, Int, [String: JSONValue])] = []
        var routeTables: [(ParsedFile, Int, [String: JSONValue])] = []
        var reconcileTables: [(ParsedFile, Int, [String: JSONValue])] = []
        for (index, table) in (root.tableArray("reconcile") ?? []).enumerated() {
            reconcileTables.append((host, index, table))
        }
        for (index, table) in (root.tableArray("connector") ?? []).enumerated() {
            connectorTables.append((host, index, table))
        }
        for (index, table) in (root.tableArray("route") ?? []).enumerated() {
            routeTables.append((host, index, table))
        }
        root.rejectUnknownKeys(allowed: ["state_dir", "runtime_dir", "plugin_dirs", "admin_socket", "log_level", "log_target", "supervisor", "connector", "route", "reconcile", "vault_key_file", "http", "store"])
        problems = root.problems

        // Drop-ins, in name order, may only define connectors.
        let dropInDirectory = URL(fileURLWithPath: baseDirectory).appendingPathComponent("connectors.d")
        let dropIns = ((try? FileManager.default.contentsOfDirectory(atPath: dropInDirectory.path)) ?? [])
            .filter { $0.hasSuffix(".toml") }
            .sorted()
        for name in dropIns {
            guard let file = ParsedFile.read(dropInDirectory.appendingPathComponent(name).path, problems: &problems) else { continue }
            var reader = TableReader(file: file, section: .root, problems: problems)
            for (index, table) in (reader.tableArray("connector") ?? []).enumerated() {
                connectorTables.append((file, index, table))
            }
            for (index, table) in (reader.tableArray("route") ?? []).enumerated() {
                routeTables.append((file, index, table))
            }
            for (index, table) in (reader.tableArray("reconcile") ?? []).enumerated() {
                reconcileTables.append((file, index, table))
            }
            reader.rejectUnknownKeys(allowed: ["connector", "route", "reconcile"],
                                     hint: "a drop-in may only hold [[connector]], [[route]] and [[reconcile]] tables; host keys belong in host.toml")
            problems = reader.problems
        }

        var connectors: [ConnectorConfig] = []
        var seen: [String: String] = [:]
        for (file, index, table) in connectorTables {
            var reader = TableReader(file: file, section: .arrayElement("connector", index), values: table, problems: problems)
            let id = reader.string("id", required: true, pattern: isValidID, patternHint: "letters, digits, '.', '_' or '-', at most 64, starting with a letter or digit")
            let plugin = reader.string("plugin", required: true, pattern: isValidPluginName, patternHint: "lowercase letters, digits, '_' or '-'")
            let tenant = reader.string("tenant")
            let entity = reader.string("entity")
            let sha256 = reader.string("sha256", pattern: { $0.count == 64 && $0.allSatisfy(\.isHexDigit) }, patternHint: "64 hex digits")
            let config = reader.table("config") ?? [:]
            let pollInterval = reader.positiveInt("poll_interval_ms") ?? 5_000
            let pollBatch = reader.positiveInt("poll_batch") ?? 500
            reader.rejectUnknownKeys(allowed: ["id", "plugin", "tenant", "entity", "sha256", "config", "poll_interval_ms", "poll_batch"])
            let origin = "\(file.path):\(reader.line(for: nil) ?? 0)"
            if let id, let earlier = seen[id] {
                reader.problem("id", "connector id \"\(id)\" is already defined at \(earlier)")
            }
            if let id { seen[id] = seen[id] ?? origin }
            var executable: String?
            if let plugin {
                executable = findPlugin(plugin, in: pluginDirectories)
                if executable == nil {
                    reader.problem("plugin", "no executable connector-\(plugin) in plugin_dirs (\(pluginDirectories.joined(separator: ", ")))")
                }
            }
            if let executable, let sha256 {
                switch fileSHA256(executable) {
                case .some(let actual) where actual != sha256.lowercased():
                    reader.problem("sha256", "\(executable) has sha256 \(actual), the pin says \(sha256.lowercased())")
                case .none:
                    reader.problem("sha256", "cannot read \(executable) to check its sha256")
                default: break
                }
            }
            problems = reader.problems
            if let id, let plugin, let executable {
                connectors.append(ConnectorConfig(
                    id: id, plugin: plugin, tenant: tenant, entity: entity, sha256: sha256?.lowercased(),
                    config: .object(config), executable: executable, origin: origin,
                    pollIntervalMilliseconds: pollInterval, pollBatch: pollBatch
                ))
            }
        }

        var routes: [RouteConfig] = []
        var routeIDs: [String: String] = [:]
        for (file, index, table) in routeTables {
            var reader = TableReader(file: file, section: .arrayElement("route", index), values: table, problems: problems)
            let from = reader.string("from", required: true)
            let to = reader.string("to", required: true)
            for (key, id) in [("from", from), ("to", to)] {
                if let id, seen[id] == nil { reader.problem(key, "no connector with id \"\(id)\"") }
            }
            let id = reader.string("id", pattern: isValidID, patternHint: "letters, digits, '.', '_' or '-'")
                ?? from.flatMap { from in to.map { "\(from)->\($0)" } }
            let events = reader.stringArray("events") ?? []
            if events.isEmpty { reader.problem("events", "is required: a list of event-type patterns such as \"invoice.*\"") }
            let tenant = reader.string("tenant")
            let entity = reader.string("entity")
            let maxAttempts = reader.positiveInt("max_attempts") ?? 10
            let maxAge = reader.duration("max_age") ?? 7 * 86_400
            let rateLimit = reader.rateLimit("rate_limit")
            let concurrency = reader.positiveInt("concurrency") ?? 16
            let retryBase = reader.positiveInt("retry_base_ms") ?? 1_000
            let retryMax = reader.positiveInt("retry_max_ms") ?? 600_000
            let dependencyRetry = reader.positiveInt("dependency_retry_ms") ?? 5_000
            reader.rejectUnknownKeys(allowed: [
                "id", "from", "to", "events", "tenant", "entity", "max_attempts", "max_age", "rate_limit", "concurrency",
                "retry_base_ms", "retry_max_ms", "dependency_retry_ms",
            ])
            let origin = "\(file.path):\(reader.line(for: nil) ?? 0)"
            if let id, let earlier = routeIDs[id] {
                reader.problem("id", "route id \"\(id)\" is already defined at \(earlier); give each route its own id")
            }
            if let id { routeIDs[id] = routeIDs[id] ?? origin }
            problems = reader.problems
            if let id, let from, let to, !events.isEmpty {
                routes.append(RouteConfig(
                    id: id, from: from, to: to, events: events, tenant: tenant, entity: entity,
                    maxAttempts: maxAttempts, maxAgeSeconds: maxAge, rateLimit: rateLimit, concurrency: concurrency,
                    retryBaseMilliseconds: retryBase, retryMaxMilliseconds: retryMax, dependencyRetryMilliseconds: dependencyRetry
                ))
            }
        }
        var reconciles: [ReconcileConfig] = []
        var reconcileNames: [String: String] = [:]
        for (file, index, table) in reconcileTables {
            var reader = TableReader(file: file, section: .arrayElement("reconcile", index), values: table, problems: problems)
            if let parsed = reader.reconcile(connectors: seen) {
                if let earlier = reconcileNames[parsed.name] {
                    reader.problem("name", "reconcile \"\(parsed.name)\" is already defined at \(earlier); give each its own name")
                } else {
                    reconcileNames[parsed.name] = parsed.origin
                    reconciles.append(parsed)
                }
            }
            problems = reader.problems
        }
        if !problems.isEmpty { throw ConfigError(problems: problems) }
        return HostConfig(
            stateDirectory: stateDirectory,
            runtimeDirectory: runtimeDirectory,
            pluginDirectories: pluginDirectories,
            adminSocket: adminSocket,
            logLevel: logLevel,
            logTarget: logTarget,
            supervisor: supervisor,
            connectors: connectors,
            routes: routes,
            vaultKeyFile: vaultKeyFile,
            http: http,
            reconciles: reconciles,
            store: store
        )
    }

    static func findPlugin(_ name: String, in directories: [String]) -> String? {
        for directory in directories {
            let candidate = "\(directory)/connector-\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func fileSHA256(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return Hex.encode(SHA256.hash(data: data))
    }

    static func isValidID(_ id: String) -> Bool {
        func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
        }
        guard let first = id.unicodeScalars.first, id.count <= 64, isAlphanumeric(first) else { return false }
        return id.unicodeScalars.allSatisfy { isAlphanumeric($0) || "._-".unicodeScalars.contains($0) }
    }

    static func isValidPluginName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
    }

    static func resolve(_ path: String, against base: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }
}

/// A TOML file read and parsed, with its text kept for locating keys.
struct ParsedFile {
    let path: String
    let root: [String: JSONValue]
    let locator: KeyLocator

    static func read(_ path: String, problems: inout [ConfigProblem]) -> ParsedFile? {
        guard let data = FileManager.default.contents(atPath: path) else {
            problems.append(ConfigProblem(file: path, line: nil, key: "", message: "cannot read the file"))
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            problems.append(ConfigProblem(file: path, line: nil, key: "", message: "the file is not valid UTF-8"))
            return nil
        }
        do {
            let table = try TOMLTable(string: text)
            return ParsedFile(path: path, root: jsonObject(table), locator: KeyLocator(text: text))
        } catch let error as TOMLParseError {
            problems.append(ConfigProblem(
                file: path, line: error.source.begin.line, key: "",
                message: "TOML syntax error at column \(error.source.begin.column): \(error.description)"
            ))
        } catch {
            problems.append(ConfigProblem(file: path, line: nil, key: "", message: "\(error)"))
        }
        return nil
    }

    static func jsonObject(_ table: TOMLTable) -> [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        for key in table.keys {
            if let value = table[key] { object[key] = json(value) }
        }
        return object
    }

    static func json(_ value: any TOMLValueConvertible) -> JSONValue {
        switch value.type {
        case .table: return .object(jsonObject(value.table!))
        case .array: return .array(value.array!.map { json($0) })
        case .string: return .string(value.string!)
        case .int: return .int(Int64(value.int!))
        case .double: return .double(value.double!)
        case .bool: return .bool(value.bool!)
        default: return .string(value.debugDescription)
        }
    }
}

/// Reads typed values from one table, recording problems with the key's file and line.
struct TableReader {
    enum Section {
        case root
        case table(String)
        case arrayElement(String, Int)
    }

    let file: ParsedFile
    let section: Section
    let values: [String: JSONValue]
    var problems: [ConfigProblem]

    init(file: ParsedFile, section: Section, values: [String: JSONValue]? = nil, problems: [ConfigProblem]) {
        self.file = file
        self.section = section
        self.values = values ?? file.root
        self.problems = problems
    }

    func keyPath(_ key: String) -> String {
        switch section {
        case .root: key
        case .table(let name): "\(name).\(key)"
        case .arrayElement(let name, let index): "\(name)[\(index)].\(key)"
        }
    }

    func line(for key: String?) -> Int? {
        switch section {
        case .root: file.locator.line(key: key, table: nil, index: nil)
        case .table(let name): file.locator.line(key: key, table: name, index: nil)
        case .arrayElement(let name, let index): file.locator.line(key: key, table: name, index: index)
        }
    }

    mutating func problem(_ key: String, _ message: String) {
        problems.append(ConfigProblem(file: file.path, line: line(for: key) ?? line(for: nil), key: keyPath(key), message: message))
    }

    mutating func string(
        _ key: String, required: Bool = false, allowed: [String]? = nil,
        pattern: ((String) -> Bool)? = nil, patternHint: String = ""
    ) -> String? {
        guard let value = values[key] else {
            if required { problem(key, "is required") }
            return nil
        }
        guard let string = value.stringValue else {
            problem(key, "must be a string")
            return nil
        }
        if let allowed, !allowed.contains(string) {
            problem(key, "\"\(string)\" is not one of \(allowed.joined(separator: ", "))")
            return nil
        }
        if let pattern, !pattern(string) {
            problem(key, "\"\(string)\" is not valid: \(patternHint)")
            return nil
        }
        return string
    }

    /// The `[store]` table's settings; its problems named by key.
    mutating func storeSettings(resolving resolve: (String) -> String) -> StoreSettings {
        let kind = string("kind", allowed: ["sqlite", "postgres"]) ?? "sqlite"
        defer {
            rejectUnknownKeys(allowed: ["kind", "url", "password_credential", "password_file", "tls", "ca_file", "pool_size", "member", "lease_seconds"])
        }
        guard kind == "postgres" else {
            for key in ["url", "password_credential", "password_file", "tls", "ca_file", "pool_size", "member", "lease_seconds"] where values[key] != nil {
                problem(key, "applies to kind = \"postgres\" only")
            }
            return .sqlite
        }
        let parsed = postgresURL()
        let passwordCredential = string("password_credential")
        let passwordFile = string("password_file").map(resolve)
        let tls = string("tls", allowed: PostgresSettings.TLS.allCases.map(\.rawValue)).flatMap(PostgresSettings.TLS.init(rawValue:))
        let caFile = string("ca_file").map(resolve)
        if caFile != nil, let tls, tls != .verifyFull { problem("ca_file", "is used with tls = \"verify-full\" only") }
        let poolSize = positiveInt("pool_size")
        let member = string("member")
        if let member, member.isEmpty || member.count > 200 || member.contains(where: { $0.isWhitespace || $0.isNewline }) {
            problem("member", "must be a name of 1 to 200 characters without spaces")
        }
        let leaseSeconds = positiveInt("lease_seconds")
        if let leaseSeconds, !(3...600).contains(leaseSeconds) { problem("lease_seconds", "must be between 3 and 600") }
        guard var settings = parsed else { return .sqlite }
        settings.member = member ?? settings.member
        settings.leaseSeconds = leaseSeconds ?? settings.leaseSeconds
        settings.passwordCredential = passwordCredential ?? settings.passwordCredential
        settings.passwordFile = passwordFile
        settings.tls = tls ?? settings.tls
        settings.caFile = caFile
        settings.poolSize = poolSize ?? settings.poolSize
        return .postgres(settings)
    }

    /// `url`: postgres://USER@HOST[:PORT]/DATABASE, refused with a password in it (not repeated in the message).
    private mutating func postgresURL() -> PostgresSettings? {
        guard let text = string("url", required: true) else { return nil }
        guard let url = URLComponents(string: text), url.scheme == "postgres" || url.scheme == "postgresql", let host = url.host, !host.isEmpty,
              let user = url.user, !user.isEmpty else {
            problem("url", "is not postgres://USER@HOST[:PORT]/DATABASE")
            return nil
        }
        if url.password != nil {
            problem("url", "holds a password: the password never goes in the configuration; give it as the systemd credential postgres-password (LoadCredential=) or in password_file")
            return nil
        }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            problem("url", "names no database: postgres://USER@HOST[:PORT]/DATABASE")
            return nil
        }
        return PostgresSettings(host: host, port: url.port ?? 5432, user: user, database: database)
    }

    mutating func positiveInt(_ key: String) -> Int? {
        guard let value = values[key] else { return nil }
        guard case .int(let int) = value, int > 0, int <= Int64(Int32.max) else {
            problem(key, "must be a positive integer")
            return nil
        }
        return Int(int)
    }

    /// A duration as seconds: an integer, or a string such as "90s", "15m", "24h", "7d".
    mutating func duration(_ key: String) -> Int? {
        guard let value = values[key] else { return nil }
        if case .int(let seconds) = value, seconds > 0 { return Int(seconds) }
        if let text = value.stringValue, let unit = text.last, let number = Int(text.dropLast()), number > 0 {
            switch unit {
            case "s": return number
            case "m": return number * 60
            case "h": return number * 3600
            case "d": return number * 86_400
            default: break
            }
        }
        problem(key, "must be a duration such as \"90s\", \"15m\", \"24h\" or \"7d\"")
        return nil
    }

    /// A rate such as "20/s", "600/m" or "10000/h".
    /// `"HOST:PORT"` with a numeric port; HOST may be an IPv4 address, `[IPv6]` or a name.
    mutating func address(_ key: String) -> HTTPSettings.Address? {
        guard let text = string(key) else { return nil }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            problem(key, "\"\(text)\" is not HOST:PORT (e.g. \"127.0.0.1:8480\")")
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else {
            problem(key, "\"\(text)\" has no host; use 127.0.0.1 for this machine only or 0.0.0.0 for every interface")
            return nil
        }
        return HTTPSettings.Address(host: host, port: port)
    }

    mutating func rateLimit(_ key: String) -> RouteConfig.RateLimit? {
        guard let value = values[key] else { return nil }
        if let text = value.stringValue {
            let parts = text.split(separator: "/")
            if parts.count == 2, let count = Int(parts[0]), count > 0 {
                switch parts[1] {
                case "s": return .init(count: count, perSeconds: 1)
                case "m": return .init(count: count, perSeconds: 60)
                case "h": return .init(count: count, perSeconds: 3600)
                default: break
                }
            }
        }
        problem(key, "must be a rate such as \"20/s\", \"600/m\" or \"10000/h\"")
        return nil
    }

    mutating func stringArray(_ key: String) -> [String]? {
        guard let value = values[key] else { return nil }
        guard let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) else {
            problem(key, "must be a list of strings")
            return nil
        }
        return array.compactMap(\.stringValue)
    }

    mutating func table(_ key: String) -> [String: JSONValue]? {
        guard let value = values[key] else { return nil }
        guard let object = value.objectValue else {
            problem(key, "must be a table")
            return nil
        }
        return object
    }

    mutating func tableArray(_ key: String) -> [[String: JSONValue]]? {
        guard let value = values[key] else { return nil }
        guard let array = value.arrayValue, array.allSatisfy({ $0.objectValue != nil }) else {
            problem(key, "must be written as [[\(key)]] tables")
            return nil
        }
        return array.compactMap(\.objectValue)
    }

    mutating func rejectUnknownKeys(allowed: [String], hint: String? = nil) {
        let allowed = Set(allowed)
        for key in values.keys.sorted() where !allowed.contains(key) {
            problem(key, "unknown key" + (hint.map { ": \($0)" } ?? ""))
        }
    }
}

/// Finds the line of a key in TOML text. TOMLKit reports positions for syntax errors only, so
/// semantic errors are located by scanning table headers and `key =` lines.
struct KeyLocator {
    private let lines: [Substring]

    init(text: String) {
        lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    }

    /// The 1-based line of `key` in the root (`table` nil), in `[table]`, or in the `index`-th
    /// `[[table]]`. With `key` nil, the table's header line.
    func line(key: String?, table: String?, index: Int?) -> Int? {
        var current = ""
        var arrayCounts: [String: Int] = [:]
        var headerLine: Int?
        for (offset, raw) in lines.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") {
                let isArray = line.hasPrefix("[[")
                let name = line.trimmingCharacters(in: CharacterSet(charactersIn: "[] \t"))
                    .split(separator: "#").first.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "[] \t")) } ?? ""
                current = name
                if isArray { arrayCounts[name, default: 0] += 1 }
                if inTarget(current, arrayCounts, table: table, index: index), current == (table ?? "") {
                    headerLine = offset + 1
                    if key == nil { return headerLine }
                }
                continue
            }
            guard let key, current == (table ?? ""), inTarget(current, arrayCounts, table: table, index: index) else { continue }
            for candidate in [key, "\"\(key)\"", "'\(key)'"] where line.hasPrefix(candidate) {
                let rest = line.dropFirst(candidate.count).drop(while: { $0 == " " || $0 == "\t" })
                if rest.hasPrefix("=") { return offset + 1 }
            }
        }
        return headerLine
    }

    private func inTarget(_ current: String, _ counts: [String: Int], table: String?, index: Int?) -> Bool {
        guard let table, let index else { return true }
        return counts[table, default: 0] == index + 1
    }
}

extension TableReader {
    /// A `[[reconcile]]` table; nil when a required key is missing or wrong (the problems say which).
    /// - Parameter connectors: the connector ids defined, with where.
    mutating func reconcile(connectors: [String: String]) -> ReconcileConfig? {
        let name = string("name", required: true, pattern: ConfigLoader.isValidID, patternHint: "letters, digits, '.', '_' or '-'")
        let source = string("source", required: true)
        let target = string("target", required: true)
        for (key, id) in [("source", source), ("target", target)] {
            if let id, connectors[id] == nil {
                let suggestion = Spelling.closest(to: id, in: Array(connectors.keys)).map { ": did you mean \($0)?" } ?? ""
                problem(key, "no connector with id \"\(id)\"\(suggestion)")
            }
        }
        if let source, source == target { problem("target", "is the source itself; a reconciliation compares two connectors") }
        let types = stringArray("types") ?? ["invoice", "payment"]
        if types.isEmpty { problem("types", "must name at least one record kind, e.g. [\"invoice\", \"payment\"]") }
        for type in types where !Record.kinds.contains(type) {
            let suggestion = Spelling.closest(to: type, in: Record.kinds).map { ": did you mean \($0)?" } ?? ""
            problem("types", "\"\(type)\" is not a record kind (\(Record.kinds.joined(separator: ", ")))\(suggestion)")
        }
        let window = positiveInt("window_days") ?? 35
        if window > 366 { problem("window_days", "must be at most 366 (a year); reconcile older periods with hostctl reconcile CONNECTOR --from --to") }
        var schedule = ReconcileConfig.Schedule.onDemand
        let every = duration("every")
        let daily = string("daily_at", pattern: { Self.minuteOfDay($0) != nil }, patternHint: "a time HH:MM in UTC, e.g. \"02:30\"")
        switch (every, daily) {
        case (.some, .some): problem("daily_at", "give either every or daily_at, not both")
        case (.some(let seconds), nil):
            if seconds < 60 { problem("every", "must be at least a minute: each run asks both systems for the whole window") }
            schedule = .every(seconds: seconds)
        case (nil, .some(let time)): schedule = .daily(minuteOfDay: Self.minuteOfDay(time) ?? 0)
        case (nil, nil): break
        }
        let tolerance = nonNegativeInt("tolerance") ?? 0
        let amountTolerance = nonNegativeInt("amount_tolerance_minor") ?? 0
        let grace = values["grace"] == nil ? 1_800 : duration("grace") ?? 1_800
        let margin = nonNegativeInt("margin_days") ?? 1
        if margin > 31 { problem("margin_days", "must be at most 31") }
        var countUnreferenced = false
        if let value = values["count_unreferenced"] {
            if let flag = value.boolValue { countUnreferenced = flag } else { problem("count_unreferenced", "must be true or false") }
        }
        rejectUnknownKeys(allowed: ["name", "source", "target", "types", "window_days", "every", "daily_at", "tolerance", "amount_tolerance_minor", "grace",
                                    "margin_days", "count_unreferenced"])
        guard let name, let source, let target, connectors[source] != nil, connectors[target] != nil, source != target,
              !types.isEmpty, types.allSatisfy(Record.kinds.contains) else { return nil }
        return ReconcileConfig(name: name, source: source, target: target, objectTypes: types, windowDays: window, schedule: schedule,
                               tolerance: tolerance, amountToleranceMinor: Int64(amountTolerance), graceSeconds: grace, marginDays: margin,
                               countUnreferenced: countUnreferenced, origin: "\(file.path):\(line(for: nil) ?? 0)")
    }

    mutating func nonNegativeInt(_ key: String) -> Int? {
        guard let value = values[key] else { return nil }
        guard case .int(let int) = value, int >= 0, int <= Int64(Int32.max) else {
            problem(key, "must be a whole number, 0 or more")
            return nil
        }
        return Int(int)
    }

    /// `HH:MM`, 00:00–23:59.
    static func minuteOfDay(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 }), let hours = Int(parts[0]), let minutes = Int(parts[1]),
              (0..<24).contains(hours), (0..<60).contains(minutes) else { return nil }
        return hours * 60 + minutes
    }
}
