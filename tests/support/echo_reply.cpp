#include "echo_reply.hpp"

#include <Poco/DigestEngine.h>
#include <Poco/JSON/Parser.h>
#include <Poco/SHA2Engine.h>

#include <map>
#include <mutex>
#include <stdexcept>

#include "test_data.hpp"

namespace postern::test {

EchoReply::EchoReply(const std::string& json) : text_(json) {
    try {
        Poco::JSON::Parser parser;
        root_ = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("echo answer is not JSON (") + e.what() +
                                 "): " + json.substr(0, 2000));
    }
    if (root_.isNull())
        throw std::runtime_error("echo answer is not a JSON object: " + json);
}

std::string EchoReply::str(const std::string& key) const {
    if (!root_->has(key))
        throw std::runtime_error("echo answer has no \"" + key + "\": " + text_);
    return root_->getValue<std::string>(key);
}

bool EchoReply::https() const {
    return root_->getValue<bool>("https");
}

std::uint64_t EchoReply::body_length() const {
    return root_->getValue<std::uint64_t>("body_length");
}

std::optional<std::string> EchoReply::header(const std::string& name) const {
    const auto headers = root_->getObject("headers");
    if (headers.isNull() || !headers->has(name))
        return std::nullopt;
    return headers->getValue<std::string>(name);
}

std::optional<std::string> EchoReply::env(const std::string& name) const {
    const auto environ = root_->getObject("environ");
    if (environ.isNull() || !environ->has(name))
        return std::nullopt;
    return environ->getValue<std::string>(name);
}

const std::string& payload(std::size_t size) {
    static std::mutex mutex;
    static std::map<std::size_t, std::string> cache;
    std::lock_guard lock(mutex);
    auto& data = cache[size];
    if (data.size() != size)
        data = deterministic_bytes(size, 20090415);
    return data;
}

std::string sha256_hex(std::string_view data) {
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(data.data(), data.size());
    return Poco::DigestEngine::digestToHex(engine.digest());
}

}  // namespace postern::test
