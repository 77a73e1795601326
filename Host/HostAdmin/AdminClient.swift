public import ConnectorProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why an admin call failed.
public enum AdminClientError: Error, CustomStringConvertible {
    /// The daemon's socket could not be reached (not running, wrong path, no permission).
    case unreachable(String)
    /// The daemon answered with an error.
    case daemon(ConnectorError)
    /// The answer was not what the API says.
    case badAnswer(String)

    public var description: String {
        switch self {
        case .unreachable(let message): "cannot reach connector-hostd: \(message)"
        case .daemon(let error): error.message
        case .badAnswer(let message): "unexpected answer from connector-hostd: \(message)"
        }
    }
}

/// A blocking client of the admin socket: one request, one answer, in order.
public final class AdminClient {
    public static let socketEnvironment = "CONNECTOR_HOST_SOCKET"
    public static let defaultSocket = "/run/connector-host/admin.sock"

    private let fd: Int32
    private let codec = RPCCodec()
    private var framer = LineFramer()
    private var ready: [LineFramer.Output] = []
    private var nextID: Int64 = 1

    public init(socketPath: String, timeoutSeconds: Int = 30) throws(AdminClientError) {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .unreachable(String(cString: strerror(errno))) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard socketPath.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw .unreachable("socket path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: socketPath.utf8)
            raw[socketPath.utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let message = "\(socketPath): \(String(cString: strerror(errno)))"
            close(fd)
            throw .unreachable(message)
        }
    }

    deinit { close(fd) }

    public func call<P: Encodable, R: Decodable>(_ method: String, _ params: P, as: R.Type) throws(AdminClientError) -> R {
        let id = RPCID.number(nextID)
        nextID += 1
        let line: Data
        do {
            line = try codec.request(id: id, method: method, params: params)
        } catch {
            throw .badAnswer("cannot encode request: \(error)")
        }
        try write(line)
        let message = try readMessage()
        switch message.kind {
        case .errorResponse(_, let error):
            throw .daemon(error.connectorError)
        case .response(id):
            do {
                return try codec.result(R.self, of: message)
            } catch {
                throw .badAnswer(error.message)
            }
        default:
            throw .badAnswer("not a response to request \(id)")
        }
    }

    private func write(_ data: Data) throws(AdminClientError) {
        let failed = data.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let written = send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if written < 0 {
                    if errno == EINTR { continue }
                    return true
                }
                offset += written
            }
            return false
        }
        if failed { throw .unreachable("write failed: \(String(cString: strerror(errno)))") }
    }

    private func readMessage() throws(AdminClientError) -> RPCMessage {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if !ready.isEmpty {
                switch ready.removeFirst() {
                case .line(let line):
                    do {
                        return try codec.decode(line: line)
                    } catch {
                        throw .badAnswer(error.message)
                    }
                case .oversized(let bytes):
                    throw .badAnswer("answer of \(bytes) bytes is over the line limit")
                }
            }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw .unreachable("read failed: \(String(cString: strerror(errno)))") }
            if count == 0 { throw .unreachable("the daemon closed the connection") }
            ready += buffer.withUnsafeBytes { framer.feed(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        }
    }
}
