// Postern core: the request path as the front end routed on it, and the
// mount router that splits it into SCRIPT_NAME and PATH_INFO. The same for
// every adapter: App::handle is the only caller.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "postern/server.hpp"

namespace postern {

/// What normalise_path gives: the path, or why there is none.
struct NormalisedPath {
    /// The normalised path when ok(): begins with '/', no dot segment, no
    /// empty segment (a trailing '/' stays), every escape decoded except
    /// %2F and %25, which stay as the upper-case escapes "%2F" and "%25"
    /// (so the text stays unambiguous: a '%' in it always starts one of
    /// those two).
    std::string path;
    /// nullptr when ok(); else a static text saying what is wrong.
    const char* reason = nullptr;
    /// The byte offset in the raw path where it went wrong.
    std::size_t offset = 0;

    bool ok() const noexcept { return reason == nullptr; }
};

/// The path a front end routes on, from a raw, still percent-encoded
/// request path (the part of REQUEST_URI before '?'). Pure: no state, no
/// allocation beyond the result, linear in the input however it is built
/// (each output byte is written once and removed at most once), so it can
/// be fuzzed and fed any length.
///
/// The rules, in the order nginx's ngx_http_parse_complex_uri applies
/// them (with merge_slashes on, its default) and Apache 2.4's
/// ap_normalize_path with AllowEncodedSlashes NoDecode and MergeSlashes on
/// (its defaults since 2.4.39):
///  1. it begins with '/';
///  2. every %XX is decoded (RFC 3986 §2.1; either case of hex digit),
///     except %2F, which stays an escape and never separates segments
///     (RFC 3986 §2.2), and %25, which stays an escape so the result never
///     holds a '%' that did not come from the client's own "%25";
///  3. a segment that is "." or ".." once decoded ("%2e", ".%2E") is a dot
///     segment and is removed as RFC 3986 §5.2.4 says ("/a/./b" → "/a/b",
///     "/a/b/../c" → "/a/c", "/a/.." → "/", "/a/." → "/a/");
///  4. repeated slashes are merged ("//a///b" → "/a/b").
/// Refused (reason and offset set):
///  - a path that does not begin with '/';
///  - a ".." that climbs above "/" ("/..", "/a/../.."): nginx answers 400
///    too, where RFC 3986 would silently drop the excess;
///  - a malformed escape ("%", "%4", "%zz");
///  - NUL, raw or as %00 (C strings downstream would end there);
///  - a raw control character (below 0x20, or 0x7F): no front end passes
///    one on in a request line, so only a forged request holds it;
///  - a raw '#': nginx and Apache end the path there (a fragment), so what
///    follows could route a front end and the gateway differently.
/// Everything else passes byte for byte, bytes above 0x7F included.
NormalisedPath normalise_path(std::string_view raw);

/// Decodes the two escapes a normalised path keeps (%2F, %25): the
/// PATH_INFO of RFC 3875 §4.1.5 from the rest of a normalised path.
std::string decode_kept_escapes(std::string_view normalised);

/// Splits a request path over the mount table: the longest mount prefix that
/// matches on a segment boundary wins ("/app" matches "/app", "/app/x", not
/// "/apple"). Thread-safe once built (read-only). Not named Router: that is
/// the toolkit's public postern::Router, and two classes of one name in one
/// namespace break the one-definition rule (their implicit members, such as
/// ~Router(), are one symbol: a program's copy replaces the library's).
class MountRouter {
  public:
    /// `status_path`: the path of the status page (--status), "" for none;
    /// route() says when a request asks for it.
    explicit MountRouter(std::vector<Mount> mounts, std::string status_path = {});

    struct Match {
        const Mount* mount = nullptr;
        std::string script_name;  ///< the prefix, "" for "/"
        std::string path_info;    ///< the decoded rest of the normalised path
        /// The request asks for the status page (mount is nullptr then).
        bool status_page = false;
    };

    /// Routes a raw request path (REQUEST_URI up to '?', still
    /// percent-encoded) on the path the front end routed on: the
    /// normalise_path of it. Throws RequestError(400) when normalise_path
    /// refuses it, and when it holds a %2F that, read as '/' (nginx
    /// decodes %2F before it routes; Apache with NoDecode does not), would
    /// make a dot segment or an empty segment or choose another mount or
    /// the status page: the two readings must reach the same place, so no
    /// front end's access rule can be bypassed by choosing one.
    Match route(std::string_view raw_path) const;

    /// Matches a path already normalised (normalise_path) on the mount
    /// table; never throws for such a path.
    Match match(std::string_view normalised_path) const;

    const std::vector<Mount>& mounts() const noexcept { return mounts_; }

  private:
    std::vector<Mount> mounts_;  // longest prefix first
    std::string status_path_;
};

}  // namespace postern
