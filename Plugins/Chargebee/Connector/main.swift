import ConnectorKit

await ConnectorRunner.serve(ChargebeeConnector.self)
