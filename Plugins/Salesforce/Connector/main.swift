import ConnectorKit

await ConnectorRunner.serve(SalesforceConnector.self)
