// Example: uploads and downloads. Mounted at /files (`--mount /files=files.so`):
//
//   GET    /files/          the files as JSON, by name:
//                           {"files": [{"name": "a.txt", "size": 3}]}
//   POST   /files/          multipart/form-data (curl -F file=@a.txt): every
//                           part with a filename is saved into the directory,
//                           streamed to disk (a 1 GiB part costs a small
//                           buffer); 201 with the saved names and sizes
//   GET    /files/{name}    the file, as a download (Range, If-Modified-Since
//                           and HEAD work: Response::send_file)
//   DELETE /files/{name}    204
//
// Settings, from the mount's section of the --config file:
//
//   [/files]
//   dir = /var/lib/postern-files    # default: postern-files in the temp directory
//
// Names: the client's filename is never used as a path. It is cut to its
// last component and every byte outside [A-Za-z0-9._-] becomes '_'; a name
// that is still not safe (empty, leading '.', "..", over 100 bytes) is
// refused with 400, as is one in a download's URL. A part cut short (the
// client went away, a body without its final boundary) leaves nothing:
// save_to writes beside the target and renames only once the part is whole.
// Several worker processes share the directory, so any worker serves any
// file; an upload replaces a file of the same name atomically.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <postern/postern.hpp>

namespace {

using postern::Request;
using postern::RequestError;
using postern::Response;

constexpr std::size_t kMaxName = 100;

/// A name that is safe as one file name in the directory: 1 to 100 bytes of
/// [A-Za-z0-9._-], not starting with '.' (no "..", no hidden files, no
/// save_to temporaries) and holding no "..".
bool safe_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxName || name.front() == '.' ||
        name.find("..") != std::string_view::npos)
        return false;
    for (const char c : name) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/// The client's filename made into a safe one ("C:\\tmp\\my report.pdf" ->
/// "my_report.pdf"), or a 400.
std::string name_from_upload(std::string_view filename) {
    if (const auto cut = filename.find_last_of("/\\"); cut != std::string_view::npos)
        filename.remove_prefix(cut + 1);
    std::string name;
    for (const char c : filename) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '-';
        name += ok ? c : '_';
    }
    if (!safe_name(name))
        throw RequestError(400, "cannot store a file named \"" + name + "\"");
    return name;
}

/// The {name} of the route, refused (400) unless safe.
std::string checked_name(const Request& req) {
    const std::string_view name = req.param("name");
    if (!safe_name(name))
        throw RequestError(400, "not a file name this example serves");
    return std::string(name);
}

void upload(const std::string& dir, Request& req, Response& res) {
    // Throws RequestError 415 (not multipart/form-data) or 400 (no boundary).
    postern::Multipart multipart(req);
    std::vector<std::pair<std::string, std::uint64_t>> saved;
    while (postern::Part* part = multipart.next()) {
        if (part->filename().empty())
            continue;  // a plain field: next() skips what is left of it
        std::string name = name_from_upload(part->filename());
        // Streams the part to a temporary file beside the target and renames
        // it once whole; throws (leaving nothing) if the part is cut short.
        const std::uint64_t size = part->save_to(dir + "/" + name);
        saved.emplace_back(std::move(name), size);
    }
    if (saved.empty())
        throw RequestError(400, "no file in the upload (a part with a filename)");
    // Safe names need no JSON escaping.
    std::string json = "{\"saved\": [";
    for (std::size_t i = 0; i < saved.size(); ++i) {
        json += (i == 0 ? "" : ", ") + std::string("{\"name\": \"") + saved[i].first +
                "\", \"size\": " + std::to_string(saved[i].second) + "}";
    }
    json += "]}";
    res.header("Location", std::string(req.script_name()) + "/" + saved.front().first);
    res.json(json, 201);
}

void list(const std::string& dir, Request&, Response& res) {
    std::vector<std::pair<std::string, std::uint64_t>> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::error_code ec;
        const std::string name = entry.path().filename().string();
        if (!safe_name(name) || !entry.is_regular_file(ec))
            continue;  // save_to's temporaries start with '.'
        const auto size = entry.file_size(ec);
        if (!ec)
            files.emplace_back(name, size);
    }
    std::sort(files.begin(), files.end());
    std::string json = "{\"files\": [";
    for (std::size_t i = 0; i < files.size(); ++i) {
        json += (i == 0 ? "" : ", ") + std::string("{\"name\": \"") + files[i].first +
                "\", \"size\": " + std::to_string(files[i].second) + "}";
    }
    json += "]}";
    res.json(json);
}

void download(const std::string& dir, Request& req, Response& res) {
    const std::string name = checked_name(req);
    // The name is already one safe file name; path_under is the toolkit's
    // own check for any path taken from a request (no "." or ".." segment).
    const auto path = postern::path_under(dir, name);
    if (!path)
        throw RequestError(404, "no file " + name);
    postern::FileOptions options;
    options.download_name = name;
    // 404 when there is no such file; Range, 206/416, 304 and HEAD are
    // send_file's.
    res.send_file(req, *path, options);
}

void remove(const std::string& dir, Request& req, Response& res) {
    const std::string name = checked_name(req);
    if (!std::filesystem::remove(dir + "/" + name))
        throw RequestError(404, "no file " + name);
    res.status(204);
}

postern::Handler setup(const postern::ModuleConfig& config) {
    std::string dir(config.get("dir"));
    if (dir.empty())
        dir = (std::filesystem::temp_directory_path() / "postern-files").string();
    // Several workers may run this at once: create_directories succeeds for
    // all of them. A directory that cannot be made stops the start-up.
    std::filesystem::create_directories(dir);

    postern::Router router;
    router.get("/", [dir](Request& req, Response& res) { list(dir, req, res); })
        .post("/", [dir](Request& req, Response& res) { upload(dir, req, res); })
        .get("/{name}", [dir](Request& req, Response& res) { download(dir, req, res); })
        .del("/{name}", [dir](Request& req, Response& res) { remove(dir, req, res); });
    return router;
}

}  // namespace

POSTERN_MODULE(setup)
