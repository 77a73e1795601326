import ConnectorKit

await ConnectorRunner.serve(StripeConnector.self)
