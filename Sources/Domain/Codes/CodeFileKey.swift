/// An uploaded file's key in the object store, `codes/{campaignId}/{type}/{name}.csv` (the reference's layout):
/// the campaign must be the request's and the type one of ``CodePool/CodeType``. Letters, digits, `_` and `-`
/// in the campaign; letters, digits, `.`, `_` and `-` in the name: no key reaches outside its folder.
public struct CodeFileKey: Sendable, Equatable {
    public let campaign: String
    public let type: CodePool.CodeType
    public let key: String

    /// Why a key was refused, as the reference names it.
    public enum Problem: Error, Equatable, Sendable {
        /// Not `codes/{campaignId}/{type}/{name}.csv`, or another campaign's.
        case invalidFileKey(String)
        /// A type other than `tm` or `external`.
        case invalidType(String)
    }

    public init(_ key: String, campaign: String) throws(Problem) {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "codes" else {
            throw .invalidFileKey("fileKey: must be codes/{campaignId}/{type}/{name}.csv")
        }
        guard parts[1] == campaign else { throw .invalidFileKey("fileKey: its campaign '\(parts[1])' is not this request's '\(campaign)'") }
        guard let type = CodePool.CodeType(rawValue: String(parts[2])) else {
            throw .invalidType("fileKey: type '\(parts[2])' is not one of tm, external")
        }
        let name = parts[3]
        guard name.hasSuffix(".csv"), name.count > 4, name.count <= 200, !name.hasPrefix("."),
              name.utf8.allSatisfy({ Self.isNameByte($0) }) else {
            throw .invalidFileKey("fileKey: the file name must be letters, digits, '.', '_' or '-', ending in .csv")
        }
        self.campaign = campaign
        self.type = type
        self.key = key
    }

    /// A campaign id as the path takes it: 1 to 64 letters, digits, `_` or `-`.
    public static func isCampaign(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count) && id.utf8.allSatisfy { isNameByte($0) && $0 != UInt8(ascii: ".") }
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
    }
}
