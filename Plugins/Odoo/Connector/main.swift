import ConnectorKit

await ConnectorRunner.serve(OdooConnector.self)
