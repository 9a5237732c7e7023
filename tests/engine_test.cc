// The JIT engine: NVRTC through the cache, keys, runtime settings, the scoped
// shared cache, concurrency and compile errors. NVRTC is part of the CUDA
// toolkit on every build machine (it needs no GPU).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "rtcache/rtcache.h"
#include "test_kernels.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::Exited;
using testing::file_exists;
using testing::kTestChild;
using testing::kTestKernels;
using testing::kTestModule;
using testing::run_child;
using testing::TempDir;

EngineConfig test_config() {
  EngineConfig config;
  config.name = "test_module";
  config.source = kTestModule;
  config.options = {"-std=c++17"};
  return config;
}

// Compiles `name` once into the cache file at `path` (through an engine whose
// implicit handle saves when the engine goes).
void compile_into(const std::string& path, const char* name) {
  Engine engine(test_config(), RuntimeSettings::path(path));
  Kernel k;
  ASSERT_OK(engine.kernel(name, &k));
  EXPECT_FALSE(k.from_cache);
}

TEST(EngineTest, CompilesOnceThenHits) {
  Engine engine(test_config(), RuntimeSettings::none());
  Kernel first, second;
  ASSERT_OK(engine.kernel("scale<float>", &first));
  EXPECT_FALSE(first.from_cache);
  EXPECT_GT(first.binary.size(), 100u);
  EXPECT_NE(first.lowered_name.find("scale"), std::string::npos);
  ASSERT_OK(engine.kernel("scale<float>", &second));
  EXPECT_TRUE(second.from_cache);
  EXPECT_TRUE(first.binary == second.binary);
  EXPECT_EQ(first.lowered_name, second.lowered_name);
  EXPECT_EQ(engine.stats().compiles, 1u);
  EXPECT_EQ(engine.stats().hits, 1u);
}

TEST(EngineTest, ColdThenWarmAcrossTwoProcesses) {
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  auto cold = run_child({kTestChild, "engine", path});
  ASSERT_TRUE(Exited(cold.status, 0)) << cold.err;
  auto warm = run_child({kTestChild, "engine", path});
  ASSERT_TRUE(Exited(warm.status, 0)) << warm.err;
  const size_t n = std::size(kTestKernels);
  EXPECT_NE(cold.out.find("compiles " + std::to_string(n)), std::string::npos) << cold.out;
  EXPECT_NE(warm.out.find("compiles 0"), std::string::npos) << warm.out;
  // Byte-identical binaries: the per-kernel hashes match line for line.
  std::istringstream a(cold.out), b(warm.out);
  std::string la, lb;
  for (size_t i = 0; i < n; ++i) {
    std::getline(a, la);
    std::getline(b, lb);
    ASSERT_EQ(la.substr(la.rfind(' ')), lb.substr(lb.rfind(' '))) << la << " vs " << lb;
    EXPECT_NE(lb.find(" 1 "), std::string::npos) << lb;  // served from the cache
  }
  EXPECT_TRUE(warm.err.empty()) << warm.err;
}

TEST(EngineTest, EveryKeyIngredientMisses) {
  auto shared = RuntimeCache::create();
  Engine base(test_config(), RuntimeSettings::shared(shared));
  Kernel k;
  ASSERT_OK(base.kernel("scale<float>", &k));
  const std::string key = k.key;

  EngineConfig other_source = test_config();
  other_source.source += "\n// a comment changes the source\n";
  EngineConfig other_option = test_config();
  other_option.options.push_back("-DEXTRA=1");
  EngineConfig other_arch = test_config();
  other_arch.arch = "sm_80";
  EngineConfig other_header = test_config();
  other_header.headers.push_back({"extra.h", "#define X 1\n"});
  for (const EngineConfig& config : {other_source, other_option, other_arch, other_header}) {
    Engine engine(config, RuntimeSettings::shared(shared));
    EXPECT_NE(engine.key_for("scale<float>"), key);
    Kernel again;
    ASSERT_OK(engine.kernel("scale<float>", &again));
    EXPECT_FALSE(again.from_cache);
  }
  EXPECT_NE(base.key_for("scale<double>"), key);
  EXPECT_EQ(base.key_for("scale<float>"), key);
}

TEST(EngineTest, PtxForAVirtualArchitecture) {
  EngineConfig config = test_config();
  config.arch = "compute_90";
  Engine engine(config, RuntimeSettings::none());
  Kernel k;
  ASSERT_OK(engine.kernel("vector_add", &k));
  EXPECT_NE(k.binary.view().find(".entry vector_add"), std::string::npos);
}

TEST(EngineTest, AnotherNvrtcBuildIsNotServed) {
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  compile_into(path, "scale<float>");
  // The same library file under another name and time is another compiler
  // identity (as a toolkit update would be).
  std::string real = std::filesystem::canonical("/usr/local/cuda/lib64/libnvrtc.so");
  std::string copy = dir.file(std::filesystem::path(real).filename().string() + ".1");
  std::filesystem::copy_file(real, copy);
  struct utimbuf times = {1000000000, 1000000000};
  ASSERT_EQ(utime(copy.c_str(), &times), 0);
  EngineConfig config = test_config();
  config.nvrtc_library = copy;
  Engine other(config, RuntimeSettings::path(path));
  Kernel k;
  ASSERT_OK(other.kernel("scale<float>", &k));
  EXPECT_FALSE(k.from_cache);
  EXPECT_EQ(other.stats().compiles, 1u);
}

TEST(EngineTest, WithoutNvrtcHitsStillServeAndMissesSayWhy) {
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  compile_into(path, "scale<float>");
  EngineConfig config = test_config();
  config.nvrtc_library = dir.file("no/such/libnvrtc.so");
  Engine engine(config, RuntimeSettings::path(path));
  Kernel hit;
  ASSERT_OK(engine.kernel("scale<float>", &hit));
  EXPECT_TRUE(hit.from_cache);
  Kernel miss;
  Status s = engine.kernel("scale<double>", &miss);
  EXPECT_EQ(s.code(), Status::Code::kNotSupported);
  EXPECT_NE(s.message().find("NVRTC not found"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("scale<double>"), std::string::npos) << s.message();
}

TEST(EngineTest, CompileErrorCarriesTheLogAndCachesNothing) {
  EngineConfig config = test_config();
  config.source += "\n__global__ void broken() { this_is_not_declared(); }\n";
  auto cache = RuntimeCache::create();
  Engine engine(config, RuntimeSettings::shared(cache));
  Kernel k;
  Status s = engine.kernel("broken", &k);
  EXPECT_TRUE(s.is_compile_error()) << s.to_string();
  EXPECT_NE(s.message().find("this_is_not_declared"), std::string::npos) << s.message();
  EXPECT_EQ(cache->size(), 0u);
  EXPECT_EQ(engine.stats().compile_failures, 1u);
  // An unknown kernel name is a compile error too, and caches nothing.
  s = engine.kernel("no_such_kernel<int>", &k);
  EXPECT_TRUE(s.is_compile_error()) << s.to_string();
  EXPECT_EQ(cache->size(), 0u);
}

TEST(EngineTest, EightThreadsCompileEachKernelOnce) {
  Engine engine(test_config(), RuntimeSettings::none());
  const std::vector<std::string> names = {"scale<float>", "scale<int>", "axpy<float, 4>"};
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 6; ++i) {
        Kernel k;
        if (!engine.kernel(names[(t + i) % names.size()], &k).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(engine.stats().compiles, names.size());
}

TEST(EngineTest, SwapSavesThePriorImplicitCacheAtOnce) {
  TempDir dir;
  const std::string first = dir.file("first.rtc"), second = dir.file("second.rtc");
  Engine engine(test_config(), RuntimeSettings::path(first));
  Kernel k;
  ASSERT_OK(engine.kernel("scale<float>", &k));
  EXPECT_FALSE(file_exists(first));
  engine.set_runtime_settings(RuntimeSettings::path(second));
  ASSERT_TRUE(file_exists(first));  // saved by the swap, not later
  EXPECT_TRUE(testing::OpenCache(first)->contains(k.key));
  EXPECT_FALSE(file_exists(second));  // the new one is saved later
  ASSERT_OK(engine.kernel("scale<int>", &k));
  auto handle = engine.runtime_cache();
  engine.set_runtime_settings(RuntimeSettings::path(second));  // same path again: reused
  EXPECT_EQ(engine.runtime_cache(), handle);
  EXPECT_FALSE(file_exists(second));
}

TEST(EngineTest, SettingTheSameSharedHandleIsANoOp) {
  auto shared = RuntimeCache::create();
  Engine engine(test_config(), RuntimeSettings::shared(shared));
  engine.set_runtime_settings(RuntimeSettings::shared(shared));
  EXPECT_EQ(engine.runtime_cache(), shared);
  EXPECT_TRUE(engine.runtime_settings() == RuntimeSettings::shared(shared));
  // Two handles on one path are different settings (identity, not path).
  Options options;
  options.path = "/nonexistent/x.rtc";
  EXPECT_FALSE(RuntimeSettings::shared(RuntimeCache::create(options)) ==
               RuntimeSettings::shared(RuntimeCache::create(options)));
  EXPECT_TRUE(RuntimeSettings::path("/a") == RuntimeSettings::path("/a"));
}

TEST(EngineTest, EnginesOnOnePathShareOneHandleAndEachSavesOnRelease) {
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  auto a = std::make_unique<Engine>(test_config(), RuntimeSettings::path(path));
  auto b = std::make_unique<Engine>(test_config(), RuntimeSettings::path(path));
  EXPECT_EQ(a->runtime_cache(), b->runtime_cache());
  Kernel k;
  ASSERT_OK(a->kernel("scale<float>", &k));
  ASSERT_OK(b->kernel("scale<float>", &k));
  EXPECT_TRUE(k.from_cache);  // b found what a compiled: one in-memory cache
  a.reset();                  // releasing a saves the shared handle
  ASSERT_TRUE(file_exists(path));
  EXPECT_TRUE(testing::OpenCache(path)->contains(k.key));
  ASSERT_OK(b->kernel("scale<int>", &k));
  b.reset();
  EXPECT_TRUE(testing::OpenCache(path)->contains(k.key));
}

TEST(EngineTest, DefaultSettingsFollowTheEnvironment) {
  // Checked in a child so that no environment change leaks into this process.
  TempDir dir;
  for (const char* unset : {"", "0", "off"}) {
    auto enabled =
        run_child({kTestChild, "engine-settings"},
                  {.env = {"RTCACHE_DIR=" + dir.path(), std::string("RTCACHE_DISABLE=") + unset}});
    EXPECT_EQ(enabled.out, "path " + dir.path() + "/kernels.rtc\n")
        << "RTCACHE_DISABLE=" << unset << ": " << enabled.err;
  }
  auto no_variable =
      run_child({kTestChild, "engine-settings"},
                {.env = {"RTCACHE_DIR=" + dir.path()}, .unset = {"RTCACHE_DISABLE"}});
  EXPECT_EQ(no_variable.out, "path " + dir.path() + "/kernels.rtc\n") << no_variable.err;
  auto disabled = run_child({kTestChild, "engine-settings"},
                            {.env = {"RTCACHE_DIR=" + dir.path(), "RTCACHE_DISABLE=1"}});
  EXPECT_EQ(disabled.out, "none\n") << disabled.err;
}

// --- the scoped, shared cache ------------------------------------------------------

TEST(ScopedCacheTest, LoadsAttachesRestoresAndSavesOnce) {
  TempDir dir;
  const std::string path = dir.file("scope.rtc"), own = dir.file("own.rtc");
  compile_into(path, "scale<float>");
  Engine a(test_config(), RuntimeSettings::path(own));
  Engine b(test_config(), RuntimeSettings::none());
  const RuntimeSettings a_before = a.runtime_settings(), b_before = b.runtime_settings();
  std::shared_ptr<RuntimeCache> shared;
  {
    std::unique_ptr<ScopedRuntimeCache> scope;
    ASSERT_OK(ScopedRuntimeCache::open({&a, &b}, path, true, &scope));
    shared = scope->cache();
    EXPECT_EQ(a.runtime_cache(), shared);
    EXPECT_EQ(b.runtime_cache(), shared);
    Kernel k;
    ASSERT_OK(a.kernel("scale<float>", &k));
    EXPECT_TRUE(k.from_cache);  // loaded before any engine asked
    ASSERT_OK(b.kernel("scale<int>", &k));
    EXPECT_EQ(shared->stats().saves, 0u);
  }
  EXPECT_TRUE(a.runtime_settings() == a_before);
  EXPECT_TRUE(b.runtime_settings() == b_before);
  EXPECT_EQ(shared->stats().saves, 1u);             // exactly once
  EXPECT_EQ(testing::OpenCache(path)->size(), 4u);  // two kernels, each with its alias entry
}

TEST(ScopedCacheTest, MemoryOnlyCreatesNoFile) {
  TempDir dir;
  Engine a(test_config(), RuntimeSettings::none());
  {
    std::unique_ptr<ScopedRuntimeCache> scope;
    ASSERT_OK(ScopedRuntimeCache::open({&a}, "", true, &scope));
    Kernel k;
    ASSERT_OK(a.kernel("scale<float>", &k));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(ScopedCacheTest, StreamIsReadOnceAndWrittenWholeOnce) {
  Engine a(test_config(), RuntimeSettings::none());
  std::stringstream stream;
  {
    std::unique_ptr<ScopedRuntimeCache> scope;
    ASSERT_OK(ScopedRuntimeCache::open({&a}, stream, true, &scope));
    Kernel k;
    ASSERT_OK(a.kernel("scale<float>", &k));
  }
  const std::string once = stream.str();
  ASSERT_FALSE(once.empty());
  Engine b(test_config(), RuntimeSettings::none());
  {
    std::unique_ptr<ScopedRuntimeCache> scope;
    ASSERT_OK(ScopedRuntimeCache::open({&b}, stream, true, &scope));
    Kernel k;
    ASSERT_OK(b.kernel("scale<float>", &k));
    EXPECT_TRUE(k.from_cache);
  }
  // Rewritten in place, not appended after the old bytes.
  EXPECT_EQ(stream.str().size(), once.size());
  auto check = RuntimeCache::create();
  std::stringstream copy(stream.str());
  size_t read = 0;
  ASSERT_OK(check->load_from_stream(copy, &read));
  EXPECT_EQ(read, once.size());
}

TEST(ScopedCacheTest, NoEngineIsAnError) {
  std::unique_ptr<ScopedRuntimeCache> scope;
  Status s = ScopedRuntimeCache::open({}, "", true, &scope);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(scope, nullptr);
}

TEST(ScopedCacheTest, ASaveFailureAtScopeExitIsLoggedNotThrown) {
  TempDir dir;
  testing::write_file(dir.file("not-a-dir"), "x");
  Engine a(test_config(), RuntimeSettings::none());
  testing::LogCapture log;
  {
    std::unique_ptr<ScopedRuntimeCache> scope;
    ASSERT_OK(ScopedRuntimeCache::open({&a}, dir.file("not-a-dir/c.rtc"), true, &scope));
    Kernel k;
    ASSERT_OK(a.kernel("scale<float>", &k));
  }  // the destructor's save fails: logged once
  EXPECT_EQ(log.warnings().size(), 1u);
  EXPECT_TRUE(a.runtime_settings() == RuntimeSettings::none());
}

}  // namespace
}  // namespace rtcache
