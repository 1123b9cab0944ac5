#include "core/module.hpp"

#include <dlfcn.h>

#include <stdexcept>

#include "postern/postern.hpp"

namespace postern {

Handler load_module(const std::string& path) {
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
    void* sym = ::dlsym(handle, "postern_app_v1");
    if (sym == nullptr) {
        ::dlclose(handle);
        throw std::runtime_error("module " + path +
                                 " has no POSTERN_APP entry point (postern_app_v1 not exported)");
    }
    using EntryFn = const AppEntry* (*)();
    const AppEntry* entry = reinterpret_cast<EntryFn>(sym)();
    if (entry == nullptr || entry->handler == nullptr) {
        throw std::runtime_error("module " + path + ": POSTERN_APP returned no handler");
    }
    if (entry->abi != POSTERN_ABI_VERSION) {
        throw std::runtime_error("module " + path + " was built for Postern ABI " +
                                 std::to_string(entry->abi) + ", this gateway speaks ABI " +
                                 std::to_string(POSTERN_ABI_VERSION));
    }
    return Handler(entry->handler);
}

}  // namespace postern
