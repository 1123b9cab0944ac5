// Test module for toolkit_multipart_large_test: a multipart/form-data upload
// as an application writes it. Each file part is saved with Part::save_to
// into $POSTERN_UPLOAD_DIR under the part's name; each field is echoed.
// Answers one line per part: "NAME=VALUE" for a field, "NAME BYTES" for a
// file.
#include <postern/postern.hpp>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace {

// A part name used as a file name: letters, digits, '-' and '_' only.
bool safe_name(std::string_view name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
    });
}

void upload(postern::Request& req, postern::Response& res) {
    const char* dir = std::getenv("POSTERN_UPLOAD_DIR");
    if (dir == nullptr)
        throw std::runtime_error("POSTERN_UPLOAD_DIR is not set");
    postern::Multipart mp(req);
    std::string out;
    while (postern::Part* part = mp.next()) {
        const std::string name(part->name());
        if (!safe_name(name))
            throw postern::RequestError(400, "a part name that is not a safe file name");
        if (part->filename().empty())
            out += name + "=" + part->text(1024) + "\n";
        else
            out += name + " " + std::to_string(part->save_to(std::string(dir) + "/" + name)) + "\n";
    }
    res.header("Content-Type", "text/plain");
    res.write(out);
}

}  // namespace

POSTERN_APP(upload)
