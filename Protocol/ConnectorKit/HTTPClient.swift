import CCurl
public import ConnectorProtocol
public import Foundation
import Synchronization

/// An HTTP request a plugin sends to its SaaS API.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: Data?
    /// The whole exchange: connecting, sending, waiting, receiving.
    public var timeout: Duration

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: Data? = nil, timeout: Duration = .seconds(30)) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// In the order received; names as sent.
    public var headers: [(name: String, value: String)]
    public var body: Data

    public init(status: Int, headers: [(name: String, value: String)] = [], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header of that name, case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// A request that got no HTTP answer. Every kind is worth a retry, so as a `ConnectorError` it is `transient`.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        public static let timeout = Code(name: "timeout")
        public static let connect = Code(name: "connect")
        public static let tls = Code(name: "tls")
        public static let tooLarge = Code(name: "too_large")
        public static let transfer = Code(name: "transfer")
        public static let shutdown = Code(name: "shutdown")
        public var description: String { name }
    }

    public var code: Code
    public var message: String
    public var description: String { "\(code): \(message)" }

    public var connectorError: ConnectorError {
        ConnectorError(.transient, message, details: ["http_error": .string(code.description)])
    }
}

/// An async HTTP/1.1 client on libcurl's multi interface, shared by every request of a plugin: one
/// thread drives all transfers; connections are kept alive and reused; at most `maxConcurrent`
/// transfers run at once (the rest wait in order); proxies come from the standard environment
/// variables (`https_proxy`, `http_proxy`, `no_proxy`), which the host passes to plugins.
public final class HTTPClient: Sendable {
    private final class Transfer: @unchecked Sendable {
        // @unchecked: after submission only the client's thread touches it, until it resumes the continuation.
        let request: HTTPRequest
        let continuation: CheckedContinuation<HTTPResponse, any Error>
        let maxBodyBytes: Int
        var headerList: UnsafeMutablePointer<curl_slist>?
        var status = 0
        var headers: [(name: String, value: String)] = []
        var body = Data()
        var tooLarge = false
        let cancelled = Atomic<Bool>(false)

        init(request: HTTPRequest, maxBodyBytes: Int, continuation: CheckedContinuation<HTTPResponse, any Error>) {
            self.request = request
            self.maxBodyBytes = maxBodyBytes
            self.continuation = continuation
        }
    }

    private struct Shared {
        var waiting: [Transfer] = []
        var running = true
    }

    private let shared = Mutex(Shared())
    // The multi handle is used by the client's thread only, except curl_multi_wakeup (thread-safe).
    private nonisolated(unsafe) let multi: UnsafeMutableRawPointer
    private let maxConcurrent: Int
    private let connectTimeout: Duration
    private let maxBodyBytes: Int
    private let userAgent: String
    /// Paces requests from the quota the vendor's answers report, when the connector gives one.
    private let pacer: RatePacer?

    /// - Parameter pacer: slows requests down before the vendor answers 429 (``RatePacer``).
    public init(maxConcurrent: Int = 8, connectTimeout: Duration = .seconds(10), maxBodyBytes: Int = 64 << 20, userAgent: String = "connector-host",
                pacer: RatePacer? = nil) {
        self.pacer = pacer
        Self.globalInit
        multi = curl_multi_init()
        self.maxConcurrent = max(1, maxConcurrent)
        self.connectTimeout = connectTimeout
        self.maxBodyBytes = maxBodyBytes
        self.userAgent = userAgent
        _ = ch_curl_multi_set_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, Int(self.maxConcurrent))
        _ = ch_curl_multi_set_long(multi, CURLMOPT_MAXCONNECTS, Int(self.maxConcurrent))
        let thread = Thread { [self] in self.loop() }
        thread.name = "http-client"
        thread.start()
    }

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    /// Sends a request and returns the response, whatever its status. Throws `HTTPClientError` when
    /// there is none (timeout, connection refused, TLS failure), `CancellationError` when cancelled.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        guard let pacer else { return try await transfer(request) }
        try await pacer.pace()
        let response = try await transfer(request)
        pacer.observe(response)
        return response
    }

    /// ``send(_:)`` for a connector: a request that got no answer is a `transient` ``ConnectorError``
    /// (the host retries it), not an ``HTTPClientError``.
    public func exchange(_ request: HTTPRequest) async throws -> HTTPResponse {
        do {
            return try await send(request)
        } catch let error as HTTPClientError {
            throw error.connectorError
        }
    }

    private func transfer(_ request: HTTPRequest) async throws -> HTTPResponse {
        let box = Mutex<Transfer?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let transfer = Transfer(request: request, maxBodyBytes: maxBodyBytes, continuation: continuation)
                box.withLock { $0 = transfer }
                let accepted = shared.withLock { shared -> Bool in
                    guard shared.running else { return false }
                    shared.waiting.append(transfer)
                    return true
                }
                guard accepted else {
                    continuation.resume(throwing: HTTPClientError(code: .shutdown, message: "the HTTP client is shut down"))
                    return
                }
                curl_multi_wakeup(multi)
            }
        } onCancel: {
            box.withLock { $0 }?.cancelled.store(true, ordering: .relaxed)
            curl_multi_wakeup(multi)
        }
    }

    /// Fails what is waiting or running and stops the client's thread.
    public func shutdown() {
        shared.withLock { $0.running = false }
        curl_multi_wakeup(multi)
    }

    // MARK: The client's thread

    private func loop() {
        var active: [UnsafeMutableRawPointer: Transfer] = [:]
        var idle: [UnsafeMutableRawPointer] = []
        while true {
            let (running, started) = shared.withLock { shared -> (Bool, [Transfer]) in
                let room = max(0, maxConcurrent - active.count)
                let started = Array(shared.waiting.prefix(shared.running ? room : shared.waiting.count))
                shared.waiting.removeFirst(started.count)
                return (shared.running, started)
            }
            for transfer in started {
                guard running else {
                    transfer.continuation.resume(throwing: HTTPClientError(code: .shutdown, message: "the HTTP client is shut down"))
                    continue
                }
                if transfer.cancelled.load(ordering: .relaxed) {
                    transfer.continuation.resume(throwing: CancellationError())
                    continue
                }
                let easy = idle.popLast() ?? curl_easy_init()!
                configure(easy, for: transfer)
                active[easy] = transfer
                curl_multi_add_handle(multi, easy)
            }
            if !running && active.isEmpty { break }
            for (easy, transfer) in active where transfer.cancelled.load(ordering: .relaxed) || !running {
                finish(easy, transfer, error: transfer.cancelled.load(ordering: .relaxed)
                       ? CancellationError() : HTTPClientError(code: .shutdown, message: "the HTTP client is shut down"))
                active[easy] = nil
                idle.append(easy)
            }
            var stillRunning: Int32 = 0
            curl_multi_perform(multi, &stillRunning)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle, let transfer = active[easy] else { continue }
                let code = message.pointee.data.result
                var status = 0
                _ = ch_curl_get_long(easy, CURLINFO_RESPONSE_CODE, &status)
                transfer.status = status
                finish(easy, transfer, error: code == CURLE_OK ? nil : error(code, transfer))
                active[easy] = nil
                idle.append(easy)
            }
            // Requests that waited for a free slot start now, not after the next wakeup or timeout.
            let startable = active.count < maxConcurrent && shared.withLock { !$0.waiting.isEmpty }
            curl_multi_poll(multi, nil, 0, startable ? 0 : 1000, nil)
        }
        for easy in idle { curl_easy_cleanup(easy) }
        curl_multi_cleanup(multi)
    }

    private func finish(_ easy: UnsafeMutableRawPointer, _ transfer: Transfer, error: (any Error)?) {
        curl_multi_remove_handle(multi, easy)
        curl_slist_free_all(transfer.headerList)
        transfer.headerList = nil
        curl_easy_reset(easy)
        if let error {
            transfer.continuation.resume(throwing: error)
        } else {
            transfer.continuation.resume(returning: HTTPResponse(status: transfer.status, headers: transfer.headers, body: transfer.body))
        }
    }

    private func error(_ code: CURLcode, _ transfer: Transfer) -> HTTPClientError {
        let text = String(cString: curl_easy_strerror(code))
        let target = "\(transfer.request.method) \(transfer.request.url)"
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return HTTPClientError(code: .timeout, message: "\(target): no answer within \(transfer.request.timeout)")
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return HTTPClientError(code: .connect, message: "\(target): \(text)")
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM:
            return HTTPClientError(code: .tls, message: "\(target): \(text)")
        case CURLE_WRITE_ERROR where transfer.tooLarge:
            return HTTPClientError(code: .tooLarge, message: "\(target): the response is larger than \(transfer.maxBodyBytes) bytes")
        default:
            return HTTPClientError(code: .transfer, message: "\(target): \(text)")
        }
    }

    private func configure(_ easy: UnsafeMutableRawPointer, for transfer: Transfer) {
        let request = transfer.request
        _ = ch_curl_set_string(easy, CURLOPT_URL, request.url)
        _ = ch_curl_set_string(easy, CURLOPT_USERAGENT, userAgent)
        _ = ch_curl_set_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = ch_curl_set_long(easy, CURLOPT_TIMEOUT_MS, Self.milliseconds(request.timeout))
        _ = ch_curl_set_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(connectTimeout))
        _ = ch_curl_set_long(easy, CURLOPT_FOLLOWLOCATION, 0)
        _ = ch_curl_set_string(easy, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = ch_curl_set_string(easy, CURLOPT_ACCEPT_ENCODING, "")
        switch request.method {
        case "GET": _ = ch_curl_set_long(easy, CURLOPT_HTTPGET, 1)
        case "HEAD": _ = ch_curl_set_long(easy, CURLOPT_NOBODY, 1)
        default: _ = ch_curl_set_string(easy, CURLOPT_CUSTOMREQUEST, request.method)
        }
        if let body = request.body {
            _ = ch_curl_set_long(easy, CURLOPT_POSTFIELDSIZE_LARGE, body.count)
            body.withUnsafeBytes { bytes in
                // COPYPOSTFIELDS: libcurl keeps its own copy, so the Data need not outlive this call.
                _ = ch_curl_set_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
        }
        var list: UnsafeMutablePointer<curl_slist>?
        for header in request.headers { list = curl_slist_append(list, "\(header.name): \(header.value)") }
        if request.body != nil, !request.headers.contains(where: { $0.name.caseInsensitiveCompare("Expect") == .orderedSame }) {
            list = curl_slist_append(list, "Expect:")  // no 100-continue round trip
        }
        transfer.headerList = list
        _ = ch_curl_set_slist(easy, CURLOPT_HTTPHEADER, list)
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        _ = ch_curl_set_callback(easy, CURLOPT_WRITEFUNCTION, { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            guard transfer.body.count + length <= transfer.maxBodyBytes else {
                transfer.tooLarge = true
                return 0
            }
            if let data { transfer.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: length) }
            return length
        })
        _ = ch_curl_set_pointer(easy, CURLOPT_WRITEDATA, context)
        _ = ch_curl_set_callback(easy, CURLOPT_HEADERFUNCTION, { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            guard let data else { return length }
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if line.hasPrefix("HTTP/") {
                transfer.headers = []  // a new response (after a 100 Continue or a proxy's CONNECT)
            } else if let colon = line.firstIndex(of: ":") {
                transfer.headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            return length
        })
        _ = ch_curl_set_pointer(easy, CURLOPT_HEADERDATA, context)
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds) * 1000 + Int(duration.components.attoseconds / 1_000_000_000_000_000)
    }
}
