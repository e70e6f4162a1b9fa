import ActorRuntime
import ActorRuntimeTesting
import Bridges
import Domain
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import JWTKit
import Testing

extension ComponentQueues {
    /// Issue 20 §1 and §3: the code pools' API on an edge node (a schema and an object store of its own, Analytics
    /// hosted beside it to show the events arrive), the real database and broker.
    @Suite(.serialized) struct CodeEdgeTests {
        static let secret = "code-edge-tests-hs256-secret-0123456789"

        struct Fixture {
            let db: PrivateSchema
            let node: NodeProcess
            let edge: URL
            let store: URL
            let topology: String

            /// Puts `text` in the object store under `key`.
            func put(_ key: String, _ text: String) throws {
                let url = store.appendingPathComponent(key)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(text.utf8).write(to: url)
            }

            /// A request to `path` (with its query) on the edge, with `token` as the bearer.
            func call(_ method: String, _ path: String, token: String?, body: String? = nil, contentType: String = "application/json",
                      authorization: String? = nil) async throws -> EdgeTests.Reply {
                var request = URLRequest(url: URL(string: edge.absoluteString + path)!)
                request.httpMethod = method
                if let body {
                    request.httpBody = Data(body.utf8)
                    request.setValue(contentType, forHTTPHeaderField: "content-type")
                }
                if let token { request.setValue("Bearer " + token, forHTTPHeaderField: "authorization") }
                if let authorization { request.setValue(authorization, forHTTPHeaderField: "authorization") }
                return try await EdgeTests.send(request)
            }

            func stop() async {
                node.signal(SIGTERM)
                _ = try? await node.waitForExit(timeout: .seconds(15))
                node.kill()
                try? FileManager.default.removeItem(at: store)
                await db.drop()
            }
        }

        static func start() async throws -> Fixture {
            let db = PrivateSchema()
            let port = try FreePort.pick(in: 30_000...31_399)
            let store = FileManager.default.temporaryDirectory.appendingPathComponent("objects-\(db.name)")
            try FileManager.default.createDirectory(at: store, withIntermediateDirectories: true)
            let topology = try CLI.writeTopology("""
                { "broker": { "url": "\(EdgeTests.amqpURL)" }, "database": { "url": "\(EdgeTests.databaseURL)", "schema": "\(db.name)" },
                  "security": { "apiKeySecret": "\(EdgeTests.secret)" },
                  "inventory": { "codes": { "jwt": { "hs256Secret": "\(secret)" }, "objectStore": { "directory": "\(store.path)" } } },
                  "nodes": [ { "name": "edge", "http": { "host": "127.0.0.1", "port": \(port) }, "components": [ { "name": "analytics" } ] },
                             { "name": "never-started", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                                                                        { "name": "notification" }, { "name": "brand-sync" } ] } ] }
                """)
            let node = try NodeProcess(["node", "edge", "--topology", topology], environment: NodeRuntimeTests.env)
            let edge = URL(string: "http://127.0.0.1:\(port)")!
            try await node.eventually("the edge answering /health") { (try? await EdgeTests.get(edge.appendingPathComponent("health")).status) == 200 }
            return Fixture(db: db, node: node, edge: edge, store: store, topology: topology)
        }

        struct Claims: JWTPayload {
            var sub: SubjectClaim
            var exp: ExpirationClaim?
            var isSupreme: JSONValue?
            func verify(using algorithm: some JWTAlgorithm) async throws {}
        }

        /// A token signed with `secret`, expiring `expiresIn` seconds from now (negative: expired; nil: no `exp`).
        static func token(supreme: JSONValue? = .bool(true), expiresIn: TimeInterval? = 600, secret: String = secret) async throws -> String {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            return try await keys.sign(Claims(sub: SubjectClaim(value: "tests"), exp: expiresIn.map { ExpirationClaim(value: Date(timeIntervalSinceNow: $0)) },
                                              isSupreme: supreme))
        }

        static func number(_ reply: EdgeTests.Reply, _ path: String...) -> Int? {
            var json: JSONValue? = reply.json
            for key in path { json = json?[key] }
            if case .number(let n)? = json { return Int(n) }
            return nil
        }

        static func codes(_ reply: EdgeTests.Reply) -> [String] {
            guard case .array(let items)? = reply.json["codes"] else { return [] }
            return items.compactMap { if case .string(let s) = $0 { s } else { nil } }
        }

        @Test func aTokenFromTheCLIUploadsReservesAssignsReleasesAndCountsAndTheEventsArrive() async throws {
            let f = try await Self.start()
            defer { f.node.kill() }
            let minted = try await CLI.run(["token", "--supreme", "--topology", f.topology])
            #expect(minted.code == 0, "\(minted.err)")
            let token = minted.out.trimmingCharacters(in: .whitespacesAndNewlines)
            let campaign = "camp-" + f.db.name

            // A file in the object store: a BOM, CRLF, a quoted code, a blank line, a repeat, a row without a code.
            try f.put("codes/\(campaign)/tm/first.csv", "\u{FEFF}A1\r\nA2,extra\r\n\"A3\"\r\n\r\nA1\n,bad\nA4")
            let first = try await f.call("POST", "/v1/\(campaign)/codes", token: token, body: #"{"fileKey": "codes/\#(campaign)/tm/first.csv"}"#)
            #expect(first.status == 200, "\(first.json)")
            #expect(Self.number(first, "count", "in") == 5 && Self.number(first, "count", "inserted") == 4
                    && Self.number(first, "count", "updated") == 1 && Self.number(first, "badRows") == 1, "\(first.json)")
            let again = try await f.call("POST", "/v1/\(campaign)/codes", token: token, body: #"{"fileKey": "codes/\#(campaign)/tm/first.csv"}"#)
            #expect(Self.number(again, "count", "inserted") == 0 && Self.number(again, "count", "updated") == 5, "\(again.json)")
            // The CSV as the body, for a newcomer without an object store.
            let body = try await f.call("POST", "/v1/\(campaign)/codes?type=tm", token: token, body: "A4\nA5\nA6\n", contentType: "text/csv")
            #expect(body.status == 200 && Self.number(body, "count", "inserted") == 2 && Self.number(body, "count", "updated") == 1, "\(body.json)")

            let reserved = try await f.call("GET", "/v1/\(campaign)/reserve?count=4&type=tm", token: token)
            let mine = Self.codes(reserved)
            #expect(reserved.status == 200 && mine.count == 4 && Set(mine).count == 4 && reserved.json["poolRanShort"] == .bool(false), "\(reserved.json)")
            guard case .string(let reserveId)? = reserved.json["reserveId"], UUID(text: reserveId) != nil else {
                Issue.record("no reserveId: \(reserved.json)"); await f.stop(); return
            }
            let rest = try await f.call("GET", "/v1/\(campaign)/reserve?count=10&type=tm", token: token)
            #expect(Self.codes(rest).count == 2 && Set(Self.codes(rest)).isDisjoint(with: mine), "\(rest.json)")
            #expect(Self.number(rest, "count") == 2 && Self.number(rest, "requested") == 10 && rest.json["poolRanShort"] == .bool(true))

            let assign = try await f.call("POST", "/v1/\(campaign)/assign", token: token, body: #"{"codes": ["\#(mine[0])", "\#(mine[1])"]}"#)
            #expect(assign.status == 200 && Self.number(assign, "count", "in") == 2 && Self.number(assign, "count", "updated") == 2, "\(assign.json)")
            let assignAgain = try await f.call("POST", "/v1/\(campaign)/assign", token: token, body: #"{"codes": ["\#(mine[0])"]}"#)
            #expect(Self.number(assignAgain, "count", "updated") == 0, "assign is terminal")
            let release = try await f.call("POST", "/v1/\(campaign)/release", token: token, body: #"{"codes": ["\#(mine[0])", "\#(mine[2])", "NOPE"]}"#)
            #expect(Self.number(release, "count", "in") == 3 && Self.number(release, "count", "updated") == 1, "only the reserved, unassigned code: \(release.json)")

            let counts = try await f.call("GET", "/v1/\(campaign)/codes/count?type=tm", token: token)
            #expect(counts.json == .object(["available": .number(1), "reserved": .number(3), "assigned": .number(2)]), "\(counts.json)")
            let reservedOnly = try await f.call("GET", "/v1/\(campaign)/codes/count?type=tm&status=reserved", token: token)
            #expect(reservedOnly.json == .object(["reserved": .number(3)]), "\(reservedOnly.json)")
            let external = try await f.call("GET", "/v1/\(campaign)/codes/count?type=external", token: token)
            #expect(external.json == .object(["available": .number(0), "reserved": .number(0), "assigned": .number(0)]))

            // Each change's event reaches Analytics through the outbox and the broker (this campaign's: the queue
            // may hold other runs' events too).
            try await f.node.eventually("the codes.* events stored by Analytics") {
                let topics: [String] = try await f.db.pool.withConnection { db in
                    try db.query("SELECT topic FROM analytics_domain_events WHERE topic LIKE 'codes.%' AND payload->>'campaignId' = $1 ORDER BY topic",
                                 [campaign]).rows.map { try $0.decode("topic") }
                }
                return topics == ["codes.assigned", "codes.released", "codes.reserved", "codes.reserved", "codes.uploaded", "codes.uploaded", "codes.uploaded"]
            }
            await f.stop()
        }

        @Test func badInputGetsTheReferencesErrorCodes() async throws {
            let f = try await Self.start()
            defer { f.node.kill() }
            let token = try await Self.token()
            func code(_ method: String, _ path: String, _ body: String? = nil, contentType: String = "application/json") async throws -> String {
                let reply = try await f.call(method, path, token: token, body: body, contentType: contentType)
                guard case .string(let code)? = reply.json["error"]?["code"] else { return "status \(reply.status): \(reply.json)" }
                return "\(reply.status) \(code)"
            }
            for query in ["count=0&type=tm", "count=1001&type=tm", "count=x&type=tm", "type=tm", "count=-1&type=tm"] {
                #expect(try await code("GET", "/v1/c1/reserve?\(query)") == "400 invalidCount", "\(query)")
            }
            #expect(try await code("GET", "/v1/c1/reserve?count=1&type=gold") == "400 invalidType")
            #expect(try await code("GET", "/v1/c1/reserve?count=1") == "400 invalidType")
            #expect(try await code("GET", "/v1/c1/codes/count") == "400 invalidType")
            #expect(try await code("GET", "/v1/c1/codes/count?type=tm&status=lost") == "400 invalidStatus")
            #expect(try await code("POST", "/v1/c1/codes", #"{"fileKey": "codes/c2/tm/a.csv"}"#) == "400 invalidFileKey", "another campaign's file")
            #expect(try await code("POST", "/v1/c1/codes", #"{"fileKey": "codes/c1/gold/a.csv"}"#) == "400 invalidType")
            #expect(try await code("POST", "/v1/c1/codes", #"{"fileKey": "codes/c1/tm/../../x.csv"}"#) == "400 invalidFileKey")
            #expect(try await code("POST", "/v1/c1/codes", #"{"file": "codes/c1/tm/a.csv"}"#) == "400 invalidFileKey")
            #expect(try await code("POST", "/v1/c1/codes", #"{"fileKey": "codes/c1/tm/missing.csv"}"#) == "404 not_found")
            #expect(try await code("POST", "/v1/c1/codes", "A1\n", contentType: "text/csv") == "400 invalidType", "a CSV body needs ?type=")
            for body in ["{}", #"{"codes": []}"#, #"{"codes": "A1"}"#] {
                #expect(try await code("POST", "/v1/c1/assign", body) == "400 emptyCodes", "\(body)")
                #expect(try await code("POST", "/v1/c1/release", body) == "400 emptyCodes", "\(body)")
            }
            #expect(try await code("POST", "/v1/c1/assign", #"{"codes": ["A1", 7]}"#) == "400 bad_request")
            #expect(try await code("POST", "/v1/c1/release", #"{"codes": ["A1"], "reserveId": "nope"}"#) == "400 bad_request")
            // A link in the store that leads outside it, and a file that is not a regular one.
            try FileManager.default.createDirectory(at: f.store.appendingPathComponent("codes/c1/tm"), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: f.store.appendingPathComponent("codes/c1/tm/link.csv").path, withDestinationPath: "/etc/hostname")
            #expect(try await code("POST", "/v1/c1/codes", #"{"fileKey": "codes/c1/tm/link.csv"}"#) == "400 invalidFileKey")
            #expect(mkfifo(f.store.appendingPathComponent("codes/c1/tm/fifo.csv").path, 0o600) == 0)
            #expect(try await code("POST", "/v1/c1/codes", #"{"fileKey": "codes/c1/tm/fifo.csv"}"#) == "422 unprocessable")
            #expect(try await code("POST", "/v1/c1/assign", "not json") == "400 bad_request")
            #expect(try await code("GET", "/v1/bad.campaign/codes/count?type=tm") == "400 bad_request")
            // Nothing was stored by any of them.
            #expect(try await f.db.scalar("SELECT count(*)::int AS v FROM code_pool") == 0)
            await f.stop()
        }

        @Test func onlyASignedUnexpiredSupremeTokenOpensThePools() async throws {
            let f = try await Self.start()
            defer { f.node.kill() }
            let path = "/v1/c1/codes/count?type=tm"
            func refusal(_ token: String?, authorization: String? = nil) async throws -> String {
                let reply = try await f.call("GET", path, token: token, authorization: authorization)
                guard case .string(let code)? = reply.json["error"]?["code"] else { return "status \(reply.status): \(reply.json)" }
                return "\(reply.status) \(code)"
            }
            #expect(try await f.call("GET", path, token: try await Self.token()).status == 200)
            #expect(try await refusal(try await Self.token(supreme: .bool(false))) == "401 supremeUserRequired")
            #expect(try await refusal(try await Self.token(supreme: nil)) == "401 supremeUserRequired")
            #expect(try await refusal(try await Self.token(supreme: .string("true"))) == "401 supremeUserRequired", "only JSON true")
            #expect(try await refusal(try await Self.token(expiresIn: nil)) == "401 unauthorized", "a token without exp")
            #expect(try await refusal(try await Self.token(expiresIn: -60)) == "401 unauthorized", "expired")
            #expect(try await refusal(try await Self.token(secret: "another-secret-of-thirty-two-bytes-000")) == "401 unauthorized", "another key")
            #expect(try await refusal(nil) == "401 unauthorized", "no token")
            #expect(try await refusal(nil, authorization: "Basic dXNlcjpwYXNz") == "401 unauthorized")
            #expect(try await refusal("not.a.jwt") == "401 unauthorized")
            // An unsigned token (alg none) claiming supremacy.
            func base64url(_ s: String) -> String {
                Data(s.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                    .replacingOccurrences(of: "=", with: "")
            }
            let unsigned = base64url(#"{"alg":"none","typ":"JWT"}"#) + "." + base64url(#"{"sub":"x","exp":4102444800,"isSupreme":true}"#) + "."
            #expect(try await refusal(unsigned) == "401 unauthorized")
            // The reference's open probe.
            #expect(try await EdgeTests.get(f.edge.appendingPathComponent("heartbeat")).status == 200)
            await f.stop()
        }
    }
}
