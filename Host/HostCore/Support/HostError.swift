import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// An error of the daemon, with a stable code for logs, the admin API and tests.
public struct HostError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String {
            case config, pluginNotFound = "plugin_not_found", pluginPin = "plugin_pin", spawn, handshake,
                peerRejected = "peer_rejected", protocolViolation = "protocol_violation", timeout,
                connectionClosed = "connection_closed", adminSocketInUse = "admin_socket_in_use", io,
                unknownConnector = "unknown_connector", vault, secretNotFound = "secret_not_found",
                secretDenied = "secret_denied", stateDirectoryInUse = "state_directory_in_use", store
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        public static let config = Code(.config)
        public static let pluginNotFound = Code(.pluginNotFound)
        public static let pluginPin = Code(.pluginPin)
        public static let spawn = Code(.spawn)
        public static let handshake = Code(.handshake)
        public static let peerRejected = Code(.peerRejected)
        public static let protocolViolation = Code(.protocolViolation)
        public static let timeout = Code(.timeout)
        public static let connectionClosed = Code(.connectionClosed)
        public static let adminSocketInUse = Code(.adminSocketInUse)
        public static let io = Code(.io)
        /// The store cannot be opened or reached (PostgreSQL: its address, password, TLS, or another host on it).
        public static let store = Code(.store)
        public static let unknownConnector = Code(.unknownConnector)
        public static let vault = Code(.vault)
        public static let secretNotFound = Code(.secretNotFound)
        public static let secretDenied = Code(.secretDenied)
        public static let stateDirectoryInUse = Code(.stateDirectoryInUse)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(message) (\(cause))" }
        return message
    }
}

extension HostError {
    /// An error as an operator reads it: a system call's failure by its errno text ("Connection reset
    /// by peer", "Address already in use"), not by the signature of the API that made the call.
    static func reason(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }
}
