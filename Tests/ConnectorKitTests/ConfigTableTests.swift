import ConnectorKit
import ConnectorProtocol
import Testing

/// Typed reading of a connector's `[connector.config]` (issue 15): every problem names its key.
@Suite struct ConfigTableTests {
    func problem(_ config: JSONValue, _ read: (ConfigTable) throws(ConfigTable.Problem) -> Void) -> String? {
        do {
            try read(try ConfigTable(config, known: ["portal_id", "page_size", "sandbox", "mode", "owners", "api"], connector: "the HubSpot connector"))
            return nil
        } catch {
            return error.description
        }
    }

    @Test func valuesAreReadWithTheirTypesAndDefaults() throws {
        let table = try ConfigTable(["portal_id": "123", "page_size": 50, "sandbox": true, "owners": ["alice": 7]], known: nil, connector: "x")
        #expect(try table.required("portal_id") == "123" && table.int("page_size", default: 100, in: 1...100) == 50)
        #expect(try table.bool("sandbox", default: false) && table.int("missing", default: 9, in: 1...10) == 9)
        #expect(try table.choice("mode", among: ["auto", "manual"]) == "auto")
        #expect(try table.ids("owners") == ["alice": 7] && table.table("nothing").keys.isEmpty)
    }

    @Test func everyProblemNamesItsKey() {
        #expect(problem(["portl_id": "1"]) { _ in }?.hasPrefix("portl_id: is not a setting of the HubSpot connector (did you mean portal_id? known: ") == true)
        #expect(problem(["page_size": "50"]) { t throws(ConfigTable.Problem) in _ = try t.int("page_size", default: 100, in: 1...100) } == "page_size: must be an integer")
        #expect(problem(["page_size": 500]) { t throws(ConfigTable.Problem) in _ = try t.int("page_size", default: 100, in: 1...100) } == "page_size: must be between 1 and 100")
        #expect(problem([:]) { t throws(ConfigTable.Problem) in _ = try t.required("portal_id") } == "portal_id: is required (a string)")
        #expect(problem(["sandbox": "yes"]) { t throws(ConfigTable.Problem) in _ = try t.bool("sandbox", default: false) } == "sandbox: must be true or false")
        #expect(problem(["mode": "fast"]) { t throws(ConfigTable.Problem) in _ = try t.choice("mode", among: ["auto", "manual"]) } == "mode: \"fast\" is not one of auto, manual")
        #expect(problem(["owners": ["alice": 0]]) { t throws(ConfigTable.Problem) in _ = try t.ids("owners") } == "owners.alice: must be a positive Odoo id")
        #expect(problem(["api": ["limits": 3]]) { t throws(ConfigTable.Problem) in _ = try t.table("api").table("limits") } == "api.limits: must be a table")
        #expect(throws: ConfigTable.Problem.self) { try ConfigTable("not a table", known: nil, connector: "x") }
    }
}
