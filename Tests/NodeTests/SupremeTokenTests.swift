import Bridges
import Foundation
@testable import Node
import Testing

/// The code pools' JWT check with an RS256 key (issue 20 §1): keys made by openssl for the test, the topology's
/// `inventory.codes.jwt` read from a file, `troupe token --private-key`, and the tokens it must refuse.
@Suite struct SupremeTokenTests {
    /// A new RSA key pair in PEM: (private, public).
    static func keyPair(in directory: URL, name: String) async throws -> (privateKey: URL, publicKey: String) {
        let privateKey = directory.appendingPathComponent("\(name).pem"), publicKey = directory.appendingPathComponent("\(name).pub.pem")
        for arguments in [["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", privateKey.path],
                          ["pkey", "-in", privateKey.path, "-pubout", "-out", publicKey.path]] {
            let status = try await DedicatedThread.run("openssl") { () -> Int32 in
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
                p.arguments = arguments
                p.standardError = FileHandle.nullDevice
                try p.run()
                p.waitUntilExit()
                return p.terminationStatus
            }
            guard status == 0 else { throw CocoaError(.fileWriteUnknown) }
        }
        return (privateKey, try String(contentsOf: publicKey, encoding: .utf8))
    }

    @Test func anRS256KeyVerifiesItsIssuersTokensAndNoOthers() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("jwt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let issuer = try await Self.keyPair(in: directory, name: "issuer"), stranger = try await Self.keyPair(in: directory, name: "stranger")

        // The topology reads the public key from a file beside it.
        let topology = directory.appendingPathComponent("topology.json")
        try Data("""
            { "broker": { "url": "amqp://guest:guest@127.0.0.1:1/%2F" }, "database": { "url": "postgresql://t:t@127.0.0.1:1/t" },
              "inventory": { "codes": { "jwt": { "rs256PublicKeyFile": "issuer.pub.pem" } } },
              "nodes": [ { "name": "all", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                         { "name": "brand-sync" }, { "name": "notification" }, { "name": "analytics" } ] } ] }
            """.utf8).write(to: topology)
        let key = try TopologyLoader.load(path: topology.path, environment: [:]).inventory.codes.key
        #expect(key == .rs256(publicKeyPEM: issuer.publicKey))
        let verifier = try await SupremeToken.verifier(try #require(key))

        // troupe token signs with the issuer's private key; the key of another issuer is refused.
        let minted = try await CLI.run(["token", "--supreme", "--topology", topology.path, "--private-key", issuer.privateKey.path])
        #expect(minted.code == 0, "\(minted.err)")
        let claims = try await verifier.claims(of: minted.out.trimmingCharacters(in: .whitespacesAndNewlines)).get()
        #expect(claims.isSupreme == true && claims.sub?.value == "troupe-cli")
        let withoutKey = try await CLI.run(["token", "--supreme", "--topology", topology.path])
        #expect(withoutKey.code == 2 && withoutKey.err.contains("--private-key"), "\(withoutKey.err)")

        let strangers = try await SupremeToken.mint(subject: "x", supreme: true, lifetime: .seconds(60),
                                                    rsaPrivateKeyPEM: try String(contentsOf: stranger.privateKey, encoding: .utf8))
        #expect(await Self.refusal(verifier, strangers) == .badSignature)
        // The public key used as an HS256 secret (the algorithm confusion attack) is not a key of this verifier.
        let confused = try await SupremeToken.mint(subject: "x", supreme: true, lifetime: .seconds(60), hs256Secret: issuer.publicKey)
        #expect(await Self.refusal(verifier, confused) != nil)
        let expired = try await SupremeToken.mint(subject: "x", supreme: true, lifetime: .seconds(-60),
                                                  rsaPrivateKeyPEM: try String(contentsOf: issuer.privateKey, encoding: .utf8))
        #expect(await Self.refusal(verifier, expired) == .expired)
    }

    static func refusal(_ verifier: SupremeToken, _ token: String) async -> SupremeToken.Refusal? {
        if case .failure(let refusal) = await verifier.claims(of: token) { refusal } else { nil }
    }

    @Test(arguments: [
        (#"{ "hs256Secret": "short" }"#, "inventory.codes.jwt.hs256Secret: must be at least 32 characters"),
        (#"{ "rs256PublicKey": "not a key" }"#, "inventory.codes.jwt.rs256PublicKey: is not an RSA public key"),
        (#"{ "hs256Secret": "0123456789abcdef0123456789abcdef", "rs256PublicKey": "x" }"#, "inventory.codes.jwt: needs exactly one of"),
        (#"{ "rs256PublicKeyFile": "/nonexistent/key.pem" }"#, "inventory.codes.jwt.rs256PublicKeyFile: '/nonexistent/key.pem' cannot be read"),
    ])
    func aBadJWTKeyIsRefusedNamingIt(jwt: String, expected: String) throws {
        let json = """
            { "broker": { "url": "amqp://g:g@127.0.0.1:1/%2F" }, "database": { "url": "postgresql://t:t@127.0.0.1:1/t" },
              "inventory": { "codes": { "jwt": \(jwt) } },
              "nodes": [ { "name": "all", "components": [ { "name": "order-queue" }, { "name": "inventory" }, { "name": "payment" },
                         { "name": "brand-sync" }, { "name": "notification" }, { "name": "analytics" } ] } ] }
            """
        let error = #expect(throws: TopologyError.self) { try TopologyLoader.decode(Data(json.utf8), file: "t.json") }
        #expect(error.map { "\($0)".contains(expected) } == true, "\(String(describing: error))")
    }
}
