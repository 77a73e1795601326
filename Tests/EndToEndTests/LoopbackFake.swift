import ConnectorKit
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starts a fake SaaS server of Tests/Fakes (or localstripe) on a free loopback port: every one of
/// them prints `listening 127.0.0.1:PORT` as its first stdout line. Returns its base URL.
func launchLoopbackFake(_ process: Process, _ executable: String, _ arguments: [String], log: String, name: String) throws -> String {
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    // open(2), not FileManager.createFile: that one writes a new file and renames it over the path,
    // which, run as root with log "/dev/null", replaces the device with a regular file.
    let descriptor = open(log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    guard descriptor >= 0 else { throw HarnessError("cannot open \(log) for \(name)'s log: errno \(errno)") }
    process.standardError = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    try process.run()
    var line = Data()
    while !line.contains(UInt8(ascii: "\n")) {
        let chunk = out.fileHandleForReading.availableData
        guard !chunk.isEmpty else { throw HarnessError("\(name) exited before listening") }
        line += chunk
    }
    let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard text.hasPrefix("listening ") else { throw HarnessError("\(name) said \(text)") }
    return "http://" + text.dropFirst("listening ".count)
}

/// Stops a fake with SIGKILL: a child of the test process inherits its blocked signal mask, so a
/// SIGTERM would stay pending; no fake keeps anything worth a clean exit.
func stopLoopbackFake(_ process: Process) {
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
}

/// A form-encoded `POST` to Stripe's API (localstripe or our fake), brackets kept in the names.
@discardableResult
func stripePost(_ base: String, key: String, _ path: String, _ fields: [(String, String)]) throws -> [String: Any] {
    let body = FormEncoding.encode(fields)
    let answer = try http("POST", base + path, headers: ["Authorization": "Bearer \(key)", "Content-Type": "application/x-www-form-urlencoded"], body: body)
    guard (200..<300).contains(answer.status) else { throw HarnessError("\(base)\(path): \(answer.status) \(answer.body)") }
    return (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
}

/// A `GET` of Stripe's API answering a list: its `data`.
func stripeList(_ base: String, key: String, _ pathAndQuery: String) throws -> [[String: Any]] {
    let answer = try http("GET", base + pathAndQuery, headers: ["Authorization": "Bearer \(key)"])
    return (try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["data"] as? [[String: Any]] ?? []
}
