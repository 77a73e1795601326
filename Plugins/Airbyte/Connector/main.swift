import ConnectorKit

await ConnectorRunner.serve(AirbyteConnector.self)
