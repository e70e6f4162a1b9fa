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
    }

    private struct State {
        var requests: [String: Int] = [:]                 // labels -> count
        var durations: [String: Histogram] = [:]          // labels -> histogram
    }

    private let state = Mutex(State())

    func record(method: String, route: String, status: Int, seconds: Double) {
        let base = "method=\"\(method)\",path=\"\(Self.escape(route))\""
        state.withLock { s in
            s.requests["\(base),status=\"\(status)\"", default: 0] += 1
            var h = s.durations[base, default: Histogram()]
            for (i, bound) in Self.buckets.enumerated() where seconds <= bound { h.counts[i] += 1 }
            h.sum += seconds
            h.count += 1
            s.durations[base] = h
        }
    }

    /// The series in Prometheus' exposition format.
    func render() -> String {
        let s = state.withLock { $0 }
        var out = "# HELP http_request_count HTTP requests answered, by method, route and status.\n# TYPE http_request_count counter\n"
        for (labels, n) in s.requests.sorted(by: { $0.key < $1.key }) { out += "http_request_count{\(labels)} \(n)\n" }
        out += "# HELP http_response_duration_seconds Time to answer, by method and route.\n# TYPE http_response_duration_seconds histogram\n"
        for (labels, h) in s.durations.sorted(by: { $0.key < $1.key }) {
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
