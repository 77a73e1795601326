public import ConnectorProtocol
public import Foundation

/// Answers requests a plugin sends to the host. The connector id is the one the host started the
/// plugin as, never what the plugin claims.
public protocol PluginRequestHandler: Sendable {
    var methods: Set<String> { get }
    /// The response line for request `id`.
    func answer(id: RPCID, method: String, message: RPCMessage, connector: String) async -> Data
}

/// `credentials.get` and `credentials.update`, from the vault.
public struct VaultRequests: PluginRequestHandler {
    let vault: Vault
    let codec = RPCCodec()

    public init(vault: Vault) {
        self.vault = vault
    }

    public var methods: Set<String> { [Method.credentialsGet, Method.credentialsUpdate] }

    public func answer(id: RPCID, method: String, message: RPCMessage, connector: String) async -> Data {
        do {
            switch method {
            case Method.credentialsGet:
                let params = try codec.params(CredentialsGetParams.self, of: message)
                let secret = try await vault.read(connector: params.connector ?? connector, name: params.name, requester: connector)
                return try codec.response(id: id, result: CredentialsGetResult(name: params.name, value: secret.value, version: secret.version))
            case Method.credentialsUpdate:
                let params = try codec.params(CredentialsUpdateParams.self, of: message)
                let version = try await vault.set(connector: connector, name: params.name, value: params.value, rotate: false, actor: connector)
                return try codec.response(id: id, result: CredentialsUpdateResult(version: version))
            default:
                return codec.errorResponse(id: id, error: ConnectorError(.notSupported, "unknown method \"\(method)\""))
            }
        } catch let error as ConnectorError {
            return codec.errorResponse(id: id, error: error)
        } catch let error as HostError {
            let code: ConnectorError.Code = switch error.code {
            case .secretDenied: .auth
            case .secretNotFound, .vault: .permanent
            default: .transient
            }
            return codec.errorResponse(id: id, error: ConnectorError(code, error.message))
        } catch {
            return codec.errorResponse(id: id, error: ConnectorError(.transient, "\(error)"))
        }
    }
}
