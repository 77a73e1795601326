import ConnectorKit

await ConnectorRunner.serve(HubSpotConnector.self)
