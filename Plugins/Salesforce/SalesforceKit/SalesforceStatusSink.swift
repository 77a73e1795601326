import ConnectorKit
public import ConnectorProtocol
public import Logging

/// Account statuses (from the books) written to Account fields, 200 records per call through sObject
/// Collections, each write idempotent (it sets the same values again):
/// - the status of an account of this org (its own, or the one the host's way back names for the
///   partner it became) updates that Account by its Id (`PATCH /composite/sobjects`);
/// - else, with `status_key_field`, it is upserted by that external-id field holding the customer's
///   id in the books (`PATCH /composite/sobjects/Account/<field>`); no Account holding it is no write;
/// - else there is no Account to write to: skipped.
/// Each record's answer is its delivery's: one refused write does not fail the others.
public struct SalesforceStatusSink: Sendable {
    let client: SalesforceClient
    let settings: SalesforceSettings
    let connector: ConnectorInfo
    let logger: Logger

    /// sObject Collections take at most 200 records a call.
    public static let collectionLimit = 200

    public init(client: SalesforceClient, settings: SalesforceSettings, connector: ConnectorInfo, logger: Logger) {
        self.client = client
        self.settings = settings
        self.connector = connector
        self.logger = logger
    }

    /// Where one status goes: the Account with this Id, or the one whose key field holds this value.
    enum Target: Equatable {
        case account(String)
        case key(String)
    }

    public func deliver(_ batch: [DeliverParams]) async -> [Result<DeliverResult, ConnectorError>] {
        var results = [Result<DeliverResult, ConnectorError>?](repeating: nil, count: batch.count)
        var byAccount: [(index: Int, id: String, fields: [String: JSONValue])] = []
        var byKey: [(index: Int, key: String, fields: [String: JSONValue])] = []
        for (index, params) in batch.enumerated() {
            switch plan(params) {
            case .failure(let error): results[index] = .failure(error)
            case .success(nil): results[index] = .success(DeliverResult(externalID: nil, duplicate: true))
            case .success(.some((let target, let fields))):
                switch target {
                case .account(let id): byAccount.append((index, id, fields))
                case .key(let key): byKey.append((index, key, fields))
                }
            }
        }
        for chunk in Self.chunks(byAccount) {
            let records: [JSONValue] = chunk.map { item in
                var record = item.fields
                record["attributes"] = ["type": "Account"]
                record["Id"] = .string(item.id)
                return .object(record)
            }
            let answers = await write("PATCH", client.dataPath + "/composite/sobjects", records)
            for (item, answer) in zip(chunk, answers) { results[item.index] = answer }
        }
        if let field = settings.statusKeyField {
            for chunk in Self.chunks(byKey) {
                let records: [JSONValue] = chunk.map { item in
                    var record = item.fields
                    record["attributes"] = ["type": "Account"]
                    record[field] = .string(item.key)
                    return .object(record)
                }
                let answers = await write("PATCH", client.dataPath + "/composite/sobjects/Account/\(field)", records, key: field)
                for (item, answer) in zip(chunk, answers) { results[item.index] = answer }
            }
        }
        return results.map { $0 ?? .failure(ConnectorError(.transient, "no answer for this status")) }
    }

    /// The target and fields of one status; nil when there is nothing to write.
    func plan(_ params: DeliverParams) -> Result<(Target, [String: JSONValue])?, ConnectorError> {
        guard case .accountStatus(let status) = params.event.record else {
            return .failure(ConnectorError(.notSupported, "the Salesforce connector takes account statuses only, not \(params.event.record.kind)"))
        }
        guard !settings.statusFields.isEmpty else {
            return .failure(ConnectorError(.permanent, "status_fields is empty in [connector.config]: name the Account fields an account status is written to"))
        }
        // One Account, one set of fields: a status from another legal entity than this org's would
        // overwrite it in another currency.
        if let entity = connector.entity, let other = params.event.entity, other != entity { return .success(nil) }
        let customer = status.customer
        let linked = params.links.first { $0.objectType == customer.objectType && $0.sourceID == customer.objectID }?.externalID
        let own = customer.objectType == "accounts" && params.sourceConnector == connector.id ? "accounts:\(customer.objectID)" : nil
        let fields = SalesforceStatus.fields(status, names: settings.statusFields)
        if let reference = linked ?? own, reference.hasPrefix("accounts:") {
            return .success((.account(String(reference.dropFirst("accounts:".count))), fields))
        }
        if settings.statusKeyField != nil { return .success((.key(customer.objectID), fields)) }
        logger.debug("account status skipped: its customer is not an account of this org", metadata: [
            "status.customer": "\(params.sourceConnector ?? "?"):\(customer.objectType):\(customer.objectID)",
        ])
        return .success(nil)
    }

    /// One Collections call: each record's result, or the call's error for all of them.
    func write(_ method: String, _ path: String, _ records: [JSONValue], key: String? = nil) async -> [Result<DeliverResult, ConnectorError>] {
        let answer: JSONValue
        do {
            answer = try await client.json(method, path, body: ["allOrNone": false, "records": .array(records)])
        } catch {
            let failure = error as? ConnectorError ?? ConnectorError(.transient, "\(error)")
            return records.map { _ in .failure(failure) }
        }
        guard let items = answer.arrayValue, items.count == records.count else {
            let failure = ConnectorError(.transient, "Salesforce answered \(records.count) records with \(answer.arrayValue.map { "\($0.count) results" } ?? "no result list")")
            return records.map { _ in .failure(failure) }
        }
        return items.map { result($0, key: key) }
    }

    /// A Collections record result (`{"id", "success", "errors": [{"statusCode", "message", "fields"}]}`).
    func result(_ item: JSONValue, key: String?) -> Result<DeliverResult, ConnectorError> {
        if item["success"]?.boolValue == true {
            return .success(DeliverResult(externalID: item["id"]?.stringValue))
        }
        let error = item["errors"]?.arrayValue?.first
        let code = error?["statusCode"]?.stringValue ?? error?["errorCode"]?.stringValue ?? "UNKNOWN"
        let message = error?["message"]?.stringValue ?? "no message"
        // An upsert that found no Account with the key tried to create one, which lacks its Name.
        // Nothing to write: the status's customer has no Account here.
        if key != nil, code == "REQUIRED_FIELD_MISSING", item["created"]?.boolValue != false {
            return .success(DeliverResult(externalID: nil, duplicate: true))
        }
        var details: [String: JSONValue] = ["salesforce_error": .string(code)]
        if let fields = error?["fields"], fields != .array([]) { details["salesforce_fields"] = fields }
        let verdict = SalesforceAnswer.errorClass(code) ?? .permanent
        return .failure(ConnectorError(verdict, "Salesforce: \(code): \(message)", retryAfterMilliseconds: verdict == .rateLimited ? Int64(settings.limitBackoffSeconds) * 1_000 : nil,
                                       details: .object(details)))
    }

    static func chunks<T>(_ items: [T]) -> [ArraySlice<T>] {
        stride(from: 0, to: items.count, by: collectionLimit).map { items[$0..<min(items.count, $0 + collectionLimit)] }
    }
}
