import ConnectorKit
import ConnectorProtocol
import Testing

/// Form bodies with bracket keys, in Stripe's and Chargebee's conventions (issue 15), without network.
@Suite struct FormEncodingTests {
    @Test func namesKeepTheirBracketsAndEverythingElseIsEscaped() {
        #expect(FormEncoding.encode([("address[city]", "Saint-Étienne"), ("metadata[ref]", "ch:crm:customer:1"), ("email", "a+b@x.test"), ("q", "a b&c=d")])
                == "address[city]=Saint-%C3%89tienne&metadata[ref]=ch%3Acrm%3Acustomer%3A1&email=a%2Bb%40x.test&q=a%20b%26c%3Dd")
    }

    /// Chargebee puts a list's index after the field (`subscription_items[item_price_id][0]`), Stripe
    /// after the list (`items[0][price]`); nested objects become bracket keys either way.
    @Test func listsOfObjectsFollowTheVendorsConvention() {
        let body: JSONValue = [
            "customer_id": "cus_1", "auto_collection": false, "billing_cycles": 12, "note": .null,
            "subscription_items": [["item_price_id": "pro-EUR-monthly", "quantity": 2], ["item_price_id": "support-EUR", "quantity": 1]],
            "meta_data": ["ref": "ch:1"], "coupon_ids": ["SUMMER", "VIP"],
        ]
        #expect(FormEncoding.encode(FormEncoding.fields(body, style: .fieldThenIndex)) == [
            "auto_collection=false", "billing_cycles=12", "coupon_ids[0]=SUMMER", "coupon_ids[1]=VIP", "customer_id=cus_1", "meta_data[ref]=ch%3A1",
            "subscription_items[item_price_id][0]=pro-EUR-monthly", "subscription_items[quantity][0]=2",
            "subscription_items[item_price_id][1]=support-EUR", "subscription_items[quantity][1]=1",
        ].joined(separator: "&"))
        let stripe = FormEncoding.fields(["items": [["price": "price_1", "quantity": 2]]], style: .indexThenField)
        #expect(stripe.map { "\($0.0)=\($0.1)" } == ["items[0][price]=price_1", "items[0][quantity]=2"])
    }
}
