// engine_save_once_child -- an Engine on a path, alive when the process exits
// normally (tests/engine_save_once_test.cc runs it while another process
// holds the cache's lock, and counts the save attempts).
//
// Usage: engine_save_once_child PATH MODE
//   The engine's implicit handle on PATH gets one key ("save-once"); then main
//   prints "ready" and returns. MODE says who lets go of the handle at exit:
//     static  a function-local static engine, constructed after the exit hook
//             was installed: its destructor runs first (the engine releases
//             the handle; the handle's destructor autosaves it)
//     global  an engine held by an object constructed before main: the exit
//             hook saves the handle first, the engine's destructor runs after
//     leaked  the engine is never destroyed: only the exit hook saves
// Warnings go to stderr (the default log sink), one line each.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "rtcache/engine.h"

namespace {

struct Holder {
  std::unique_ptr<rtcache::Engine> engine;
};
Holder global_holder;  // constructed before main, so destroyed after the exit hook
// The leaked engine stays reachable from here (so LeakSanitizer does not
// count it), but nothing ever destroys it.
rtcache::Engine* leaked_engine = nullptr;

rtcache::Engine* make_engine(const std::string& path, const std::string& mode) {
  rtcache::EngineConfig config;
  config.name = "save_once";
  const rtcache::RuntimeSettings settings = rtcache::RuntimeSettings::path(path);
  if (mode == "static") {
    static rtcache::Engine engine(config, settings);
    return &engine;
  }
  if (mode == "global") {
    global_holder.engine = std::make_unique<rtcache::Engine>(config, settings);
    return global_holder.engine.get();
  }
  if (mode == "leaked") {
    leaked_engine = new rtcache::Engine(config, settings);  // NOLINT: never freed, by design
    return leaked_engine;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: engine_save_once_child PATH static|global|leaked\n");
    return 2;
  }
  rtcache::Engine* engine = make_engine(argv[1], argv[2]);
  if (engine == nullptr) {
    std::fprintf(stderr, "unknown mode %s\n", argv[2]);
    return 2;
  }
  engine->runtime_cache()->put("save-once", std::string_view("value"));
  std::printf("ready\n");
  std::fflush(stdout);
  return 0;
}
