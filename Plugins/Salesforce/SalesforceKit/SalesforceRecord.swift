public import ConnectorProtocol
import Crypto
public import Foundation

/// A Salesforce record as the connector reads it, the same whether a REST query answered it (JSON) or a
/// Bulk job did (CSV): every field a string, absent when null or empty (Bulk writes null as an empty
/// value), numbers as the decimal text Salesforce sent, booleans `true`/`false`.
public struct SalesforceRecord: Sendable, Hashable {
    public var fields: [String: String]

    public init(_ fields: [String: String]) {
        self.fields = fields.filter { !$0.value.isEmpty }
    }

    /// A REST record (`{"attributes": …, "Id": …, …}`); nil without an `Id`.
    public init?(json: JSONValue) {
        guard let object = json.objectValue, object["Id"]?.stringValue != nil else { return nil }
        var fields: [String: String] = [:]
        for (name, value) in object where name != "attributes" {
            switch value {
            case .string(let text): fields[name] = text
            case .bool(let flag): fields[name] = flag ? "true" : "false"
            case .int(let number): fields[name] = String(number)
            // A currency or double field: the shortest text that reads back as the same Double is the
            // decimal Salesforce wrote (its values carry at most 18 significant digits).
            case .double(let number): fields[name] = number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : "\(number)"
            default: continue
            }
        }
        self.init(fields)
    }

    public subscript(_ name: String) -> String? { fields[name] }

    public var id: String { fields["Id"] ?? "" }
    public var deleted: Bool { fields["IsDeleted"] == "true" }
    /// `SystemModstamp` as a cursor stamp (SOQL literal, to the second).
    public var stamp: String? { SalesforceTime.stamp(fields["SystemModstamp"]) }

    /// The version of this state of the record: its `SystemModstamp` and a digest of its fields. A
    /// second only tells two changes apart when they are a second apart; the digest tells apart two in
    /// one second, and is the same for one state whether a query (JSON) or a Bulk job (CSV) read it.
    public var version: String? {
        guard let stamp else { return nil }
        if deleted { return "deleted:\(stamp)" }
        var hasher = SHA256()
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) where name != "SystemModstamp" {
            hasher.update(data: Data("\(name)=\(Self.canonical(value))\n".utf8))
        }
        let digest = Hex.encode(hasher.finalize().prefix(6))
        return "\(stamp)/\(digest)"
    }

    /// A value as both of Salesforce's formats agree on it: a time as its SOQL literal (REST writes
    /// `+0000`, Bulk `Z`), a number in its shortest decimal form (`100.0` and `100`).
    static func canonical(_ value: String) -> String {
        if value.count >= 19, value.contains("T"), let stamp = SalesforceTime.stamp(value) { return stamp }
        if !value.isEmpty, value.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "-" || $0 == "E" || $0 == "e" || $0 == "+") }),
           value.first != "+", let number = Decimal(string: value, locale: Locale(identifier: "en_US_POSIX")) {
            return "\(number)"
        }
        return value
    }

    /// The record as JSON, for an intake reject.
    public var json: JSONValue { .object(fields.mapValues { .string($0) }) }
}

/// Bulk API 2.0 results: RFC 4180 CSV, a header row of field names, every value quoted or not. Pure.
public enum BulkCSV {
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// Rows as records. `header` is the header to use when the page has none (a later page that
    /// starts with data); a page that starts with the same header skips it.
    public static func records(_ text: Data, header expected: [String]? = nil) throws(Problem) -> (header: [String], records: [SalesforceRecord]) {
        var rows = try parse(text)
        guard !rows.isEmpty else { return (expected ?? [], []) }
        let header: [String]
        if let expected, rows[0] != expected {
            header = expected
        } else {
            header = rows.removeFirst()
        }
        guard header.contains("Id") else { throw Problem(description: "the Bulk results have no Id column (header: \(header.prefix(8).joined(separator: ",")))") }
        var records: [SalesforceRecord] = []
        records.reserveCapacity(rows.count)
        for (index, row) in rows.enumerated() {
            guard row.count == header.count else {
                throw Problem(description: "row \(index + 1) of the Bulk results has \(row.count) values for \(header.count) columns")
            }
            records.append(SalesforceRecord(Dictionary(zip(header, row)) { first, _ in first }))
        }
        return (header, records)
    }

    /// The rows of a CSV text: fields split on commas outside quotes, `""` inside quotes a quote, LF or
    /// CRLF between rows, a final line break optional.
    public static func parse(_ data: Data) throws(Problem) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var wasQuoted = false
        let bytes = [UInt8](data)
        var i = 0
        func endField() {
            row.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            wasQuoted = false
        }
        while i < bytes.count {
            let byte = bytes[i]
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(byte)
                        i += 1
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(byte)
                }
            } else {
                switch byte {
                case UInt8(ascii: "\""):
                    guard field.isEmpty, !wasQuoted else { throw Problem(description: "a quote inside an unquoted value of the Bulk results (row \(rows.count + 1))") }
                    quoted = true
                    wasQuoted = true
                case UInt8(ascii: ","):
                    endField()
                case UInt8(ascii: "\r") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\n"):
                    break
                case UInt8(ascii: "\n"):
                    endField()
                    rows.append(row)
                    row.removeAll(keepingCapacity: true)
                default:
                    guard !wasQuoted else { throw Problem(description: "text after a closing quote in the Bulk results (row \(rows.count + 1))") }
                    field.append(byte)
                }
            }
            i += 1
        }
        guard !quoted else { throw Problem(description: "the Bulk results end inside a quoted value") }
        if !field.isEmpty || !row.isEmpty || wasQuoted {
            endField()
            rows.append(row)
        }
        return rows
    }
}
