import Bridges
import CLibPQ
import CRabbitMQ
import Testing

@Suite struct CLibrariesTests {
    @Test func librabbitmqIsLinkedAndAtLeast0_11() throws {
        let parts = CLibraries.rabbitMQ.split(separator: ".").compactMap { Int($0) }
        #expect(parts.count == 3, "version '\(CLibraries.rabbitMQ)'")
        #expect(parts[0] > 0 || parts[1] >= 11)
        // A real call into the library: a connection state is created and freed.
        let conn = try #require(amqp_new_connection())
        #expect(amqp_get_sockfd(conn) == -1, "no socket before connecting")
        #expect(amqp_destroy_connection(conn) == AMQP_STATUS_OK.rawValue)
    }

    @Test func libpqIsLinkedAndParsesAConnectionURL() throws {
        #expect(CLibraries.libpqNumber >= 120_000, "libpq \(CLibraries.libpq)")
        var error: UnsafeMutablePointer<CChar>?
        let options = try #require(PQconninfoParse("postgresql://troupe:secret@127.0.0.1:5439/troupe", &error))
        defer { PQconninfoFree(options) }
        var found: [String: String] = [:]
        var p = options
        while let keyword = p.pointee.keyword {
            if let value = p.pointee.val { found[String(cString: keyword)] = String(cString: value) }
            p += 1
        }
        #expect(found["host"] == "127.0.0.1")
        #expect(found["port"] == "5439")
        #expect(found["dbname"] == "troupe")
        #expect(error == nil)
    }
}
