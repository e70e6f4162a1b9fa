import Bridges
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An ``ObjectStore`` over a directory: key `codes/c1/tm/a.csv` is the file `{root}/codes/c1/tm/a.csv`, which must
/// be a regular file inside the root once links are followed. Reads a chunk at a time on a thread of its own (file
/// reads block), opening the file for each chunk, so an upload that stops early leaves no descriptor open.
public struct DirectoryObjectStore: ObjectStore {
    public let root: String
    /// Bytes read per chunk.
    public let chunkSize: Int

    public init(root: String, chunkSize: Int = 1 << 20) {
        self.root = root
        self.chunkSize = max(1, chunkSize)
    }

    public func read(_ key: String) async throws -> any AsyncSequence<[UInt8], any Error> & Sendable {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard !key.hasPrefix("/"), !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }),
              !key.utf8.contains(0) else {
            throw ObjectStoreError.invalidKey(key)
        }
        // The file as the links lead to it must be inside the root: a link in the store reaches nothing outside.
        guard let base = Self.resolved(root), let path = Self.resolved(root + "/" + key) else { throw ObjectStoreError.notFound(key) }
        guard path.hasPrefix(base.hasSuffix("/") ? base : base + "/") else { throw ObjectStoreError.invalidKey(key) }
        return Chunks(key: key, path: path, chunkSize: chunkSize)
    }

    /// `path` with every link, `.` and `..` resolved; nil when it does not exist.
    static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// The file's chunks, each read by `pread` at its offset.
    struct Chunks: AsyncSequence, Sendable {
        typealias Element = [UInt8]
        let key: String
        let path: String
        let chunkSize: Int

        func makeAsyncIterator() -> Iterator { Iterator(chunks: self) }

        struct Iterator: AsyncIteratorProtocol {
            let chunks: Chunks
            var offset = 0
            var done = false

            mutating func next() async throws -> [UInt8]? {
                guard !done else { return nil }
                let (key, path, size, at) = (chunks.key, chunks.path, chunks.chunkSize, offset)
                let bytes = try await DedicatedThread.run("troupe-object-read") { try Self.read(key: key, path: path, size: size, at: at) }
                if bytes.isEmpty { done = true; return nil }
                offset += bytes.count
                return bytes
            }

            static func read(key: String, path: String, size: Int, at offset: Int) throws -> [UInt8] {
                // Not blocking on open (a FIFO would wait for a writer forever); only a regular file is read.
                let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
                guard fd >= 0 else {
                    let code = errno
                    throw code == ENOENT ? ObjectStoreError.notFound(key) : ObjectStoreError.unreadable(key, reason: String(cString: strerror(code)))
                }
                defer { close(fd) }
                var info = stat()
                guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
                    throw ObjectStoreError.unreadable(key, reason: "not a regular file")
                }
                var bytes = [UInt8](repeating: 0, count: size)
                var filled = 0
                while filled < size {
                    let n = bytes.withUnsafeMutableBytes { buffer in
                        pread(fd, buffer.baseAddress! + filled, size - filled, off_t(offset + filled))
                    }
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw ObjectStoreError.unreadable(key, reason: String(cString: strerror(errno)))
                    }
                    if n == 0 { break }
                    filled += n
                }
                bytes.removeLast(size - filled)
                return bytes
            }
        }
    }
}
