/// A problem in a topology file, naming the JSON path (e.g. `nodes[1].components[0].name`).
struct TopologyError: Error, CustomStringConvertible, Equatable {
    let file: String
    let path: String
    let message: String

    var description: String { path.isEmpty ? "\(file): \(message)" : "\(file): \(path): \(message)" }
}
