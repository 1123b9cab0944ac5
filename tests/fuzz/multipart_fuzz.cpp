// libFuzzer driver for gateway/src/toolkit/multipart.cpp (postern::Multipart):
// arbitrary bytes as a multipart/form-data body with the boundary "XyZ",
// read part by part in four ways: the body in 1-byte pieces read 1 byte at
// a time, in 7-byte pieces read 3 at a time, whole read 64 KiB at a time,
// and whole with every part skipped by next(). The outcome must not depend
// on how the bytes arrive: the same parts (names, headers, contents), the
// same refusal, and a part's end (read() == 0) only when the same part ends
// in every other way of reading too.
//
// Seed corpus: tests/data/multipart/ (bodies as browsers and curl send
// them). Building and running: tests/fuzz/README.md.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "postern/postern.hpp"

namespace {

class PieceBody : public postern::BodySource {
  public:
    PieceBody(std::string_view data, std::size_t piece) : data_(data), piece_(piece) {}
    std::size_t read(char* buffer, std::size_t size) override {
        const std::size_t n = std::min({size, piece_, data_.size() - pos_});
        data_.copy(buffer, n, pos_);
        pos_ += n;
        return n;
    }

  private:
    std::string_view data_;
    std::size_t piece_;
    std::size_t pos_ = 0;
};

struct Outcome {
    std::vector<std::string> parts;     // name, filename and type of each part reached
    std::vector<std::string> contents;  // of each part read to its end
    int status = 0;                     // the RequestError's, 0 for none
    bool operator==(const Outcome&) const = default;
};

Outcome parse(std::string_view body, std::size_t piece, std::size_t chunk, bool skip) {
    PieceBody source(body, piece);
    postern::Request req("http", {{"CONTENT_TYPE", "multipart/form-data; boundary=XyZ"}}, source);
    Outcome out;
    try {
        postern::Multipart mp(req, 50);
        while (postern::Part* p = mp.next()) {
            out.parts.push_back(std::string(p->name()) + '\0' + std::string(p->filename()) + '\0' +
                                std::string(p->content_type()));
            if (skip)
                continue;
            std::string content;
            std::string buf(chunk, '\0');
            while (const std::size_t n = p->read(buf.data(), chunk)) {
                FUZZ_CHECK(n <= chunk);
                content.append(buf.data(), n);
            }
            // The delimiter never ends up inside a part's content.
            FUZZ_CHECK(content.find("\r\n--XyZ") == std::string::npos);
            FUZZ_CHECK(p->read(buf.data(), chunk) == 0);  // and it stays ended
            out.contents.push_back(std::move(content));
        }
    } catch (const postern::RequestError& e) {
        FUZZ_CHECK(e.status() == 400);
        out.status = e.status();
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const Outcome bytewise = parse(body, 1, 1, false);
    FUZZ_CHECK(parse(body, 7, 3, false) == bytewise);
    FUZZ_CHECK(parse(body, size + 1, 64 * 1024, false) == bytewise);
    // Skipping with next() reaches the same parts and the same end.
    const Outcome skipped = parse(body, size + 1, 0, true);
    FUZZ_CHECK(skipped.status == bytewise.status);
    FUZZ_CHECK(skipped.parts == bytewise.parts);
    return 0;
}
