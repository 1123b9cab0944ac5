// Postern: options for Response::send_file, and the path check its callers
// need.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern {

struct FileOptions {
    /// Content-Type to send; empty: a Content-Type the callback set before,
    /// else one guessed from the file name's extension (html, css, js, json,
    /// txt, png, jpg, gif, svg, pdf, wasm, zip, gz, mp4, webm, woff2, xml
    /// and a few more; application/octet-stream when unknown). A guessed
    /// text type carries no charset: the gateway cannot know the encoding.
    std::string content_type;
    /// When set, the file is offered as a download under this name, UTF-8
    /// (RFC 6266: Content-Disposition: attachment; filename="..." with '"'
    /// and '\' escaped and any byte outside printable ASCII as '_', plus
    /// filename*=UTF-8''... percent-encoded (RFC 8187) when the name is not
    /// plain ASCII).
    std::string download_name;
};

/// `root` joined with the request path `path` (typically req.path_info() or
/// a Router capture), or nullopt when `path` must not be served from under
/// `root`: a "." or ".." segment, a NUL, or no file name at all. Empty
/// segments ("a//b") are skipped. The gateway already removes dot segments
/// from the path it routes on and refuses a "%2F" that would make one
/// ("/files/..%2Fsecret": 400), so PATH_INFO and Router captures never
/// hold one; a path from anywhere else (the query, a form, a cookie) may.
/// Check every path taken from a request with this all the same before
/// giving it to send_file, and answer nullopt with 404 (as a missing file). Pure (no
/// file-system access): a symbolic link under `root` that points outside it
/// is followed, as nginx does by default.
///
///     auto file = postern::path_under("/srv/static", req.param("name"));
///     if (!file) throw postern::RequestError(404, "no such file");
///     res.send_file(req, *file);
std::optional<std::string> path_under(std::string_view root, std::string_view path);

}  // namespace postern
