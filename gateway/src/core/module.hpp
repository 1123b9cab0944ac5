// Postern core: loading an application module, a shared object built with
// POSTERN_APP (a plain handler) or POSTERN_MODULE (setup and teardown).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "postern/handler.hpp"
#include "postern/module.hpp"

namespace postern {

/// A module as one worker process runs it.
struct LoadedModule {
    /// The file, as the user named it (for log lines).
    std::string file;
    Handler handler;
    /// POSTERN_MODULE's teardown; null for POSTERN_APP or none given.
    TeardownFn teardown = nullptr;
    /// What setup was given: kept (at a fixed address) until teardown has
    /// run, so the views ModuleConfig::get returned stay valid as long as
    /// the handler may use them.
    std::unique_ptr<ModuleConfig> config;
};

/// Loads `config.module()` once (dlopen, never unloaded) and finds its entry
/// point: `postern_module_v1` (POSTERN_MODULE), else `postern_app_v1`
/// (POSTERN_APP). For a POSTERN_MODULE, runs its setup with `config` in
/// this process and on this thread: call it in the worker process, after
/// the fork.
///
/// Throws std::runtime_error with one line naming the file when it is not a
/// loadable module, has no entry point or exports both, was built against
/// another ABI version, or its setup throws or returns no handler (the
/// setup's own message is quoted, control characters escaped).
LoadedModule load_module(ModuleConfig config);

/// For each module, last loaded first: drops its handler (and what the
/// handler captured), then runs its teardown, once (it is cleared as it
/// runs). What a teardown throws is logged naming the module, and the
/// others run all the same. Call once nothing can call a handler any more.
void teardown_modules(std::vector<LoadedModule>& modules) noexcept;

}  // namespace postern
