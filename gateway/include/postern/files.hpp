// Postern: options for Response::send_file.
#pragma once

#include <string>

namespace postern {

struct FileOptions {
    /// Content-Type to send; empty: guessed from the file name's extension
    /// (application/octet-stream when unknown).
    std::string content_type;
    /// When set, the file is offered as a download under this name
    /// (Content-Disposition: attachment; filename=...).
    std::string download_name;
};

}  // namespace postern
