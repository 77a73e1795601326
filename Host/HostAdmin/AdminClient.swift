public import ConnectorProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why an admin call failed.
public enum AdminClientError: Error, CustomStringConvertible {
    /// The daemon's socket could not be reached (not running, wrong path).
    case unreachable(String)
    /// The socket is there but this user may not use it (not root, not in the daemon's group).
    case denied(String)
    /// The daemon answered with an error.
    case daemon(ConnectorError)
    /// The answer was not what the API says.
    case badAnswer(String)

    public var description: String {
        switch self {
        case .unreachable(let message): "cannot reach connector-hostd: \(message)"
        case .denied(let message): "no permission to use connector-hostd's admin socket: \(message) (be root or in the daemon's group)"
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
        do {
            fd = try UnixSocket.connect(path: socketPath, receiveTimeoutSeconds: timeoutSeconds)
        } catch {
            throw error.code == .auth ? .denied(error.message) : .unreachable(error.message)
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
        if let failure = data.withUnsafeBytes({ UnixSocket.writeAll(fd, $0) }) {
            throw .unreachable("write failed: \(UnixSocket.errorText(failure))")
        }
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
