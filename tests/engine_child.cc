// A child process for the engine tests: compiles the test module's kernels
// through an engine whose runtime settings are a path, then exits normally
// (the engine-implicit handle is saved on release). Prints one line per
// kernel, "<name> <from_cache 0|1> <xxh3 of binary>", then "compiles N".
// With --default-settings it prints the runtime settings the environment gives.
#include <xxhash.h>

#include <cstdio>
#include <string>

#include "rtcache/engine.h"
#include "test_kernels.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: engine_child CACHE_PATH | --default-settings\n");
    return 2;
  }
  if (std::string(argv[1]) == "--default-settings") {
    rtcache::RuntimeSettings s = rtcache::RuntimeSettings::from_environment();
    std::printf("%s\n", s.is_none() ? "none" : ("path " + s.cache_path()).c_str());
    return 0;
  }
  rtcache::EngineConfig config;
  config.name = "test_module";
  config.source = rtcache::testing::kTestModule;
  config.options = {"-std=c++17"};
  rtcache::Engine engine(config, rtcache::RuntimeSettings::path(argv[1]));
  for (const char* name : rtcache::testing::kTestKernels) {
    rtcache::Kernel kernel;
    rtcache::Status s = engine.kernel(name, &kernel);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.to_string().c_str());
      return 1;
    }
    std::printf(
        "%s %d %016llx\n", name, kernel.from_cache ? 1 : 0,
        static_cast<unsigned long long>(XXH3_64bits(kernel.binary.data(), kernel.binary.size())));
  }
  std::printf("compiles %llu\n", static_cast<unsigned long long>(engine.stats().compiles));
  return 0;
}
