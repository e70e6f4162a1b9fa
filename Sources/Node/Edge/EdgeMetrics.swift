import Foundation
import Synchronization

/// The edge's HTTP series in Prometheus' text format: `http_request_count` (counter) and
/// `http_response_duration_seconds` (histogram), by method, route and status.
final class EdgeMetrics: Sendable {
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    private struct Histogram {
        var counts = [Int](repeating: 0, count: EdgeMetrics.buckets.count)
        var sum = 0.0
        var count = 0

        mutating func record(_ seconds: Double) {
            for (i, bound) in EdgeMetrics.buckets.enumerated() where seconds <= bound { counts[i] += 1 }
            sum += seconds
            count += 1
        }
    }

    /// A series' labels, kept as values: the label text is made when `/metrics` is read, not per request.
    private struct Route: Hashable {
        let method: String, route: String
        var labels: String { "method=\"\(method)\",path=\"\(EdgeMetrics.escape(route))\"" }
    }

    private struct Answer: Hashable {
        let route: Route, status: Int
        var labels: String { "\(route.labels),status=\"\(status)\"" }
    }

    private struct State {
        var requests: [Answer: Int] = [:]
        var durations: [Route: Histogram] = [:]
    }

    private let state = Mutex(State())

    func record(method: String, route: String, status: Int, seconds: Double) {
        let key = Route(method: method, route: route)
        state.withLock { s in
            s.requests[Answer(route: key, status: status), default: 0] += 1
            s.durations[key, default: Histogram()].record(seconds)          // in place: no copy of the buckets
        }
    }

    /// The series in Prometheus' exposition format.
    func render() -> String {
        let s = state.withLock { $0 }
        var out = "# HELP http_request_count HTTP requests answered, by method, route and status.\n# TYPE http_request_count counter\n"
        for (labels, n) in s.requests.map({ ($0.key.labels, $0.value) }).sorted(by: { $0.0 < $1.0 }) { out += "http_request_count{\(labels)} \(n)\n" }
        out += "# HELP http_response_duration_seconds Time to answer, by method and route.\n# TYPE http_response_duration_seconds histogram\n"
        for (labels, h) in s.durations.map({ ($0.key.labels, $0.value) }).sorted(by: { $0.0 < $1.0 }) {
            for (i, bound) in Self.buckets.enumerated() {
                out += "http_response_duration_seconds_bucket{\(labels),le=\"\(bound)\"} \(h.counts[i])\n"
            }
            out += "http_response_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(h.count)\n"
            out += "http_response_duration_seconds_sum{\(labels)} \(h.sum)\nhttp_response_duration_seconds_count{\(labels)} \(h.count)\n"
        }
        return out
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
