public import ConnectorProtocol
import Foundation

/// `application/x-www-form-urlencoded` bodies and queries as SaaS APIs read them, nested values written
/// as bracket keys. Two conventions exist for lists of objects: Stripe puts the index after the list's
/// name (`items[0][price]`), Chargebee after the field's (`subscription_items[item_price_id][0]`).
public enum FormEncoding {
    public enum ListStyle: Sendable {
        /// `items[0][price]=…` (Stripe).
        case indexThenField
        /// `subscription_items[item_price_id][0]=…` (Chargebee).
        case fieldThenIndex
    }

    /// Name=value pairs percent-encoded (RFC 3986 unreserved characters kept; brackets kept in names,
    /// as these APIs expect them), joined with `&`, in the order given.
    public static func encode(_ fields: [(String, String)]) -> String {
        fields.map { name, value in "\(escape(name, keeping: "[]"))=\(escape(value))" }.joined(separator: "&")
    }

    static func escape(_ text: String, keeping extra: String = "") -> String {
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        allowed.insert(charactersIn: extra)
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// The fields of a JSON object, nested objects and lists flattened into bracket keys (object keys in
    /// sorted order, so a body is the same every time); `null` is left out, booleans are `true`/`false`,
    /// numbers as written.
    public static func fields(_ value: JSONValue, style: ListStyle) -> [(String, String)] {
        var fields: [(String, String)] = []
        for (key, member) in (value.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            flatten(member, name: key, style: style, into: &fields)
        }
        return fields
    }

    private static func flatten(_ value: JSONValue, name: String, style: ListStyle, into fields: inout [(String, String)]) {
        switch value {
        case .null: break
        case .string(let text): fields.append((name, text))
        case .bool(let flag): fields.append((name, flag ? "true" : "false"))
        case .int(let number): fields.append((name, String(number)))
        case .double(let number): fields.append((name, String(number)))
        case .object(let members):
            for (key, member) in members.sorted(by: { $0.key < $1.key }) { flatten(member, name: "\(name)[\(key)]", style: style, into: &fields) }
        case .array(let items):
            for (index, item) in items.enumerated() {
                guard case .object(let members) = item, style == .fieldThenIndex else {
                    flatten(item, name: "\(name)[\(index)]", style: style, into: &fields)
                    continue
                }
                for (key, member) in members.sorted(by: { $0.key < $1.key }) { flatten(member, name: "\(name)[\(key)][\(index)]", style: style, into: &fields) }
            }
        }
    }
}
