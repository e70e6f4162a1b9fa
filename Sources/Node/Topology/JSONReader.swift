import ActorRuntime

/// Reads a ``JSONValue`` object field by field, remembering the JSON path, so every error says where
/// it is; keys nobody read are reported as unknown (typos do not pass silently).
struct JSONReader {
    let path: String
    private let object: [String: JSONValue]
    private let fail: (String, String) -> TopologyError

    init(_ value: JSONValue, path: String, fail: @escaping (String, String) -> TopologyError) throws {
        guard case .object(let o) = value else { throw fail(path, "must be a JSON object") }
        self.object = o
        self.path = path
        self.fail = fail
    }

    func error(_ key: String?, _ message: String) -> TopologyError { fail(sub(key), message) }

    private func sub(_ key: String?) -> String {
        guard let key else { return path }
        return path.isEmpty ? key : "\(path).\(key)"
    }

    func rejectUnknownKeys(_ known: Set<String>) throws {
        for key in object.keys.sorted() where !known.contains(key) && !key.hasPrefix("$") {
            throw error(key, "unknown key (expected one of: \(known.sorted().joined(separator: ", ")))")
        }
    }

    func has(_ key: String) -> Bool { object[key] != nil && object[key] != .null }

    func string(_ key: String, default fallback: String? = nil) throws -> String {
        guard let v = object[key], v != .null else {
            if let fallback { return fallback }
            throw error(key, "is required")
        }
        guard case .string(let s) = v else { throw error(key, "must be a string") }
        guard !s.isEmpty else { throw error(key, "must not be empty") }
        return s
    }

    func int(_ key: String, default fallback: Int? = nil, in range: ClosedRange<Int>) throws -> Int {
        guard let v = object[key], v != .null else {
            if let fallback { return fallback }
            throw error(key, "is required")
        }
        guard case .number(let d) = v, d.rounded() == d, abs(d) < 1e15 else { throw error(key, "must be an integer") }
        guard range.contains(Int(d)) else { throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(Int(d))") }
        return Int(d)
    }

    func number(_ key: String, default fallback: Double, in range: ClosedRange<Double>) throws -> Double {
        guard let v = object[key], v != .null else { return fallback }
        guard case .number(let d) = v else { throw error(key, "must be a number") }
        guard range.contains(d) else { throw error(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(d)") }
        return d
    }

    func object(_ key: String) throws -> JSONReader {
        guard let v = object[key], v != .null else { throw error(key, "is required") }
        return try JSONReader(v, path: sub(key), fail: fail)
    }

    func array<T>(_ key: String, default fallback: [T]? = nil, _ each: (JSONReader) throws -> T) throws -> [T] {
        guard let v = object[key], v != .null else {
            if let fallback { return fallback }
            throw error(key, "is required")
        }
        guard case .array(let items) = v else { throw error(key, "must be an array") }
        return try items.enumerated().map { i, item in try each(JSONReader(item, path: "\(sub(key))[\(i)]", fail: fail)) }
    }
}
