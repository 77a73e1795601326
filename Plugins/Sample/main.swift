import ConnectorKit

await ConnectorRunner.serve(SampleConnector.self)
