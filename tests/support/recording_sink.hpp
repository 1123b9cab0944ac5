// Test double for ResponseSink: records what the core asked the adapter to
// put on the wire, and can play a front end that has gone away.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <algorithm>

#include "postern/request.hpp"
#include "postern/response.hpp"

namespace postern::test {

class RecordingSink : public ResponseSink {
  public:
    bool send_head(const ResponseHead& head) override {
        ++heads;
        status = head.status;
        headers = *head.headers;
        content_length = head.content_length;
        head_only = head.head_only;
        events.push_back("head");
        return !gone;
    }
    bool send_body(std::string_view data) override {
        body.append(data);
        events.push_back("body:" + std::to_string(data.size()));
        return !gone;
    }
    bool flush() override {
        events.push_back("flush");
        return !gone;
    }
    bool finish() override {
        ++finishes;
        events.push_back("finish");
        return !gone;
    }
    void abort() override {
        ++aborts;
        events.push_back("abort");
    }

    bool gone = false;
    int heads = 0, finishes = 0, aborts = 0;
    int status = 0;
    HeaderList headers;
    std::optional<std::uint64_t> content_length;
    bool head_only = false;
    std::string body;
    std::vector<std::string> events;
};

class StringBody : public BodySource {
  public:
    explicit StringBody(std::string data, std::size_t piece = 7)
        : data_(std::move(data)), piece_(piece) {}
    std::size_t read(char* buffer, std::size_t size) override {
        std::size_t n = std::min({size, piece_, data_.size() - pos_});
        data_.copy(buffer, n, pos_);
        pos_ += n;
        return n;
    }
    std::size_t consumed() const { return pos_; }

  private:
    std::string data_;
    std::size_t piece_;
    std::size_t pos_ = 0;
};

}  // namespace postern::test
