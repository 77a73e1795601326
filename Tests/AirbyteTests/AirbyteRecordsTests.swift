import AirbyteKit
import ConnectorKit
import ConnectorProtocol
import Foundation
import Testing

/// Airbyte records as events: identity and version, generic and canonical records, rejects, the
/// configuration and the catalog, and the protocol's lines.
@Suite struct AirbyteRecordsTests {
    let connector = ConnectorInfo(id: "faker", plugin: "airbyte")
    let users = AirbyteStream(name: "users", primaryKey: [["id"]], cursorField: ["updated_at"], incremental: true)

    @Test func aRecordIsItsStreamAndKeyAtItsCursorAndContent() throws {
        let records = AirbyteRecords(connector: connector, streams: [users], mappings: [:])
        let data: [String: JSONValue] = ["id": 7, "name": "Ada", "updated_at": "2026-12-07T10:00:00+00:00"]
        let event = try #require(records.event(stream: "users", data: data, emittedAt: 0).event)
        #expect(event.type == "record.upserted" && event.source.objectType == "users" && event.source.objectID == "7")
        #expect(event.source.version?.hasPrefix("2026-12-07T10:00:00+00:00#") == true)
        #expect(event.occurredAt == "2026-12-07T10:00:00+00:00" && event.orderingKey == "users:7")
        guard case .other(let kind, let value) = event.record else { Issue.record("not a generic record"); return }
        #expect(kind == "record" && value["stream"] == "users" && value["primary_key"] == ["7"] && value["data"]?["name"] == "Ada")
        // The same record again is the same version (stored once); another name at the same instant is not.
        #expect(records.event(stream: "users", data: data, emittedAt: 99).event?.source == event.source)
        var renamed = data
        renamed["name"] = "Ada L."
        #expect(records.event(stream: "users", data: renamed, emittedAt: 0).event?.source.version != event.source.version)
    }

    @Test func aRecordWithoutItsKeyIsRejectedSayingWhich() {
        let records = AirbyteRecords(connector: connector, streams: [users], mappings: [:])
        guard let reject = records.event(stream: "users", data: ["name": "no id"], emittedAt: 0).reject else {
            Issue.record("a record without its key made an event")
            return
        }
        #expect(reject.problem == "a record of stream users has no primary key field id")
    }

    @Test func aMappedStreamGivesCanonicalCustomers() throws {
        let settings = try AirbyteSettings([
            "command": "/opt/source-faker/bin/source-faker", "streams": ["users"],
            "map": ["users": ["kind": "customer", "name": "name", "email": "email", "address.city": "address.city", "address.country": "address.country_code"]],
        ])
        let records = AirbyteRecords(connector: connector, streams: [users], mappings: settings.mappings)
        let event = try #require(records.event(stream: "users", data: [
            "id": 1, "name": "Ada", "email": "ada@example.test", "updated_at": "2026-12-07T10:00:00+00:00",
            "address": ["city": "London", "country_code": "GB"],
        ], emittedAt: 0).event)
        #expect(event.type == "customer.upserted")
        #expect(event.record == .customer(Customer(name: "Ada", email: "ada@example.test", address: Address(city: "London", country: "GB"))))
        guard let reject = records.event(stream: "users", data: ["id": 2, "email": "x@example.test"], emittedAt: 0).reject else {
            Issue.record("a customer without a name made an event")
            return
        }
        #expect(reject.problem == "a record of stream users as a customer: its name field name is missing or empty")
    }

    @Test func theConfigurationNamesWhatIsWrong() {
        #expect(ConfigTable.problem(AirbyteSettings.init, ["streams": ["users"]])?.hasPrefix("command: is required") == true)
        #expect(ConfigTable.problem(AirbyteSettings.init, ["command": "x", "stream": ["users"]])?.hasPrefix("stream: is not a setting of the Airbyte connector (did you mean streams?") == true)
        #expect(ConfigTable.problem(AirbyteSettings.init, ["command": "x", "map": ["users": ["kind": "customer", "name": "name", "mail": "email"]]])
            == "map.users.mail: is not a member of a customer (did you mean email? known: name, email, phone, vat, is_company, currency, address.line1, address.line2, address.city, address.postal_code, address.state, address.country)")
        #expect(ConfigTable.problem(AirbyteSettings.init, ["command": "x", "streams": ["users"], "map": ["orders": ["kind": "product", "name": "title"]]])
            == "map.orders: maps a stream that is not read (streams: users)")
        #expect(ConfigTable.problem(AirbyteSettings.init, ["command": ["/bin/source", "--flag"], "secrets": ["credentials.api_key": "api_key"]]) == nil)
    }

    @Test func secretsGoIntoTheSourcesConfigurationAtTheirPaths() {
        let config = AirbyteWorkspace.configuration(["count": 10, "credentials": ["auth_type": "token"]], secrets: ["credentials.api_key": "s3cret"])
        #expect(config == ["count": 10, "credentials": ["auth_type": "token", "api_key": "s3cret"]])
    }

    @Test func theConfiguredCatalogReadsIncrementallyWhereItCan() throws {
        let catalog = AirbyteCatalog(["streams": [
            ["name": "users", "supported_sync_modes": ["full_refresh", "incremental"], "source_defined_cursor": true,
             "default_cursor_field": ["updated_at"], "source_defined_primary_key": [["id"]], "json_schema": [:]],
            ["name": "countries", "supported_sync_modes": ["full_refresh"], "json_schema": [:]],
        ]])
        let (configured, streams) = try catalog.configured([])
        #expect(streams == [users, AirbyteStream(name: "countries", primaryKey: [], cursorField: [], incremental: false)])
        #expect(configured["streams"]?.arrayValue?.map { $0["sync_mode"] } == ["incremental", "full_refresh"])
        #expect(throws: AirbyteLineProblem("the source has no stream \"orders\" (it has: users, countries)")) { try catalog.configured(["orders"]) }
    }

    /// A stream whose source names no key (a CSV file's rows) takes the one the configuration names; a
    /// stream with a key of its own keeps it, and a configuration naming another is refused.
    @Test func aStreamWithoutAKeyTakesTheConfiguredOne() throws {
        let catalog = AirbyteCatalog(["streams": [
            ["name": "users", "supported_sync_modes": ["full_refresh"], "source_defined_primary_key": [["id"]], "json_schema": [:]],
            ["name": "rows", "supported_sync_modes": ["full_refresh"], "json_schema": [:]],
        ]])
        let settings = try AirbyteSettings(["command": "/bin/source", "primary_key": ["rows": ["order", "meta.line"], "users": "id"]])
        #expect(settings.primaryKeys == ["rows": [["order"], ["meta", "line"]], "users": [["id"]]])
        let (configured, streams) = try catalog.configured([], primaryKeys: settings.primaryKeys)
        #expect(streams.map(\.primaryKey) == [[["id"]], [["order"], ["meta", "line"]]])
        #expect(configured["streams"]?.arrayValue?.last?["primary_key"] == [["order"], ["meta", "line"]])
        #expect(throws: AirbyteLineProblem(#"stream "users" has a primary key of its own (id): primary_key.users may not name another"#)) {
            try catalog.configured([], primaryKeys: ["users": [["email"]]])
        }
        #expect(throws: ConfigTable.Problem(key: "primary_key.rows", message: #"must name the key's field ("id"), or its fields (["order", "line"])"#)) {
            try AirbyteSettings(["command": "/bin/source", "primary_key": ["rows": []]])
        }
        #expect(throws: ConfigTable.Problem.self) { try AirbyteSettings(["command": "/bin/source", "streams": ["users"], "primary_key": ["rows": "id"]]) }
    }

    @Test func linesThatAreNotMessagesSaySo() throws {
        #expect(try AirbyteMessage.parse(Data(#"{"type":"RECORD","record":{"stream":"users","data":{"id":1},"emitted_at":5}}"#.utf8))
            == .record(stream: "users", namespace: nil, data: ["id": 1], emittedAt: 5))
        #expect(try AirbyteMessage.parse(Data(#"{"type":"TRACE","trace":{"type":"ERROR","error":{"message":"bad key","failure_type":"config_error"}}}"#.utf8))
            == .trace(AirbyteTrace(type: "ERROR", message: "bad key", failureType: "config_error")))
        #expect(throws: AirbyteLineProblem("not JSON: Traceback (most recent call last):")) { try AirbyteMessage.parse(Data("Traceback (most recent call last):".utf8)) }
        #expect(throws: AirbyteLineProblem.self) { try AirbyteMessage.parse(Data(#"{"type":"RECORD","record":{"data":{}}}"#.utf8)) }
    }
}
