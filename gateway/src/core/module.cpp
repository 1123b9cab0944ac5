#include "core/module.hpp"

#include <dlfcn.h>

#include <charconv>
#include <stdexcept>

#include "core/log.hpp"
#include "core/log_escape.hpp"
#include "postern/postern.hpp"

namespace postern {

namespace {

/// The last value given for `key` (a later one wins, as a later option
/// does), or nullptr.
const std::string* last_value(const std::vector<std::pair<std::string, std::string>>& settings,
                              std::string_view key) noexcept {
    for (auto it = settings.rbegin(); it != settings.rend(); ++it)
        if (it->first == key)
            return &it->second;
    return nullptr;
}

}  // namespace

std::string_view ModuleConfig::get(std::string_view key, std::string_view fallback) const noexcept {
    const std::string* value = last_value(settings_, key);
    return value != nullptr ? std::string_view(*value) : fallback;
}

long long ModuleConfig::get_int(std::string_view key, long long fallback, long long min,
                                long long max) const {
    const std::string* value = last_value(settings_, key);
    if (value == nullptr)
        return fallback;
    long long n = 0;
    const char* const end = value->data() + value->size();
    auto [ptr, ec] = std::from_chars(value->data(), end, n);
    if (value->empty() || ec != std::errc() || ptr != end || n < min || n > max)
        throw std::invalid_argument("setting " + std::string(key) + " of mount " + mount_ +
                                    ": expected a whole number from " + std::to_string(min) +
                                    " to " + std::to_string(max) + ", got \"" + log_escape(*value) +
                                    "\"");
    return n;
}

namespace {

/// What the module's setup says went wrong, on one line.
std::string setup_error(const std::string& file, std::string_view what) {
    return "module " + file + ": setup failed: " + log_escape(what);
}

void check_abi(const std::string& file, int abi) {
    if (abi != POSTERN_ABI_VERSION)
        throw std::runtime_error("module " + file + " was built for Postern ABI " +
                                 std::to_string(abi) + ", this gateway speaks ABI " +
                                 std::to_string(POSTERN_ABI_VERSION));
}

}  // namespace

LoadedModule load_module(ModuleConfig config) {
    // A copy: `config` moves into the LoadedModule below.
    const std::string path = config.module();
    // dlopen searches the library path for a name without '/'; a module is
    // always a file the user named, so make it one.
    std::string file = path.find('/') == std::string::npos ? "./" + path : path;
    void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* err = ::dlerror();
        throw std::runtime_error("cannot load module " + path + ": " +
                                 (err ? err : "unknown error"));
    }
    ::dlerror();
    void* module_sym = ::dlsym(handle, "postern_module_v1");
    void* app_sym = ::dlsym(handle, "postern_app_v1");
    if (module_sym != nullptr && app_sym != nullptr) {
        ::dlclose(handle);
        throw std::runtime_error("module " + path +
                                 " exports both POSTERN_MODULE (postern_module_v1) and POSTERN_APP "
                                 "(postern_app_v1): keep one");
    }
    if (module_sym == nullptr && app_sym == nullptr) {
        ::dlclose(handle);
        throw std::runtime_error("module " + path +
                                 " has no entry point: neither POSTERN_APP (postern_app_v1) nor "
                                 "POSTERN_MODULE (postern_module_v1) is exported");
    }
    LoadedModule loaded;
    loaded.file = path;
    if (app_sym != nullptr) {
        using EntryFn = const AppEntry* (*)();
        const AppEntry* entry = reinterpret_cast<EntryFn>(app_sym)();
        if (entry == nullptr || entry->handler == nullptr)
            throw std::runtime_error("module " + path + ": POSTERN_APP returned no handler");
        check_abi(path, entry->abi);
        loaded.handler = Handler(entry->handler);
        return loaded;
    }
    using EntryFn = const ModuleEntry* (*)();
    const ModuleEntry* entry = reinterpret_cast<EntryFn>(module_sym)();
    if (entry == nullptr || entry->setup == nullptr)
        throw std::runtime_error("module " + path + ": POSTERN_MODULE gave no setup function");
    check_abi(path, entry->abi);
    loaded.config = std::make_unique<ModuleConfig>(std::move(config));
    try {
        loaded.handler = entry->setup(*loaded.config);
    } catch (const std::exception& e) {
        throw std::runtime_error(setup_error(path, e.what()));
    } catch (...) {
        throw std::runtime_error(setup_error(path, "a non-standard exception"));
    }
    loaded.teardown = entry->teardown;
    if (!loaded.handler) {
        // It set up (a pool, a thread): its teardown is owed all the same.
        std::vector<LoadedModule> one;
        one.push_back(std::move(loaded));
        teardown_modules(one);
        throw std::runtime_error("module " + path + ": setup returned no handler");
    }
    return loaded;
}

void teardown_modules(std::vector<LoadedModule>& modules) noexcept {
    for (auto it = modules.rbegin(); it != modules.rend(); ++it) {
        // What the handler holds (a pool it captured) goes before the
        // teardown runs, as the handler came before it.
        it->handler = nullptr;
        const TeardownFn teardown = it->teardown;
        if (teardown == nullptr)
            continue;
        it->teardown = nullptr;
        try {
            teardown();
        } catch (const std::exception& e) {
            log::error("module " + it->file + ": teardown threw: " + log_escape(e.what()));
        } catch (...) {
            log::error("module " + it->file + ": teardown threw a non-standard exception");
        }
    }
}

}  // namespace postern
