// Postern core: the protocol registry (postern/server.hpp). The core never
// names an adapter: the names and their factories come from whoever links
// the core with adapters (gateway/main/protocols.cpp for libpostern).
#include <algorithm>
#include <mutex>
#include <utility>

#include "core/connection.hpp"
#include "postern/server.hpp"

namespace postern {

namespace {

struct Registry {
    std::mutex mutex;
    std::vector<std::pair<std::string, ProtocolFactory>> entries;  // sorted by name
};

// Constructed on first use: adapters register from static initialisers of
// the library they are in, in any order with this file's.
Registry& registry() {
    static Registry r;
    return r;
}

ProtocolFactory find(const std::string& name) {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    for (const auto& [n, factory] : r.entries)
        if (n == name)
            return factory;
    return nullptr;
}

}  // namespace

void register_protocol(std::string name, ProtocolFactory factory) {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    auto at =
        std::lower_bound(r.entries.begin(), r.entries.end(), name,
                         [](const auto& entry, const std::string& n) { return entry.first < n; });
    const bool present = at != r.entries.end() && at->first == name;
    if (factory == nullptr) {
        if (present)
            r.entries.erase(at);
    } else if (present) {
        at->second = factory;
    } else {
        r.entries.emplace(at, std::move(name), factory);
    }
}

std::vector<std::string> registered_protocols() {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    std::vector<std::string> names;
    names.reserve(r.entries.size());
    for (const auto& entry : r.entries)
        names.push_back(entry.first);
    return names;
}

std::unique_ptr<Protocol> make_protocol(const std::string& name, App& app, const Options& options) {
    // Called without the lock held: a factory may take its time (it may
    // bind nothing, but AJP checks its secret, FastCGI initialises libfcgi).
    const ProtocolFactory factory = find(name);
    return factory != nullptr ? factory(app, options) : nullptr;
}

bool known_protocol(const std::string& name) {
    return find(name) != nullptr;
}

}  // namespace postern
