// Loading and launching cached kernels on a GPU (label gpu). Each test skips,
// saying why, on a machine without a CUDA driver or GPU; everything before
// the load (compiling, caching) is covered by engine_test everywhere.
#include <gtest/gtest.h>

#include <vector>

#include "rtcache/cuda.h"
#include "rtcache/rtcache.h"
#include "test_kernels.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::kTestModule;
using testing::TempDir;

CudaDriver* driver_or_skip_reason(std::string* reason) {
  CudaDriver* driver = nullptr;
  Status s = CudaDriver::get(&driver);
  if (!s.ok()) *reason = s.to_string();
  return s.ok() ? driver : nullptr;
}

#define REQUIRE_GPU(driver)                                 \
  std::string skip_reason;                                  \
  CudaDriver* driver = driver_or_skip_reason(&skip_reason); \
  if (driver == nullptr) GTEST_SKIP() << "no GPU: " << skip_reason

EngineConfig config_for(const std::string& arch) {
  EngineConfig config;
  config.name = "gpu_test_module";
  config.source = kTestModule;
  config.options = {"-std=c++17"};
  config.arch = arch;
  return config;
}

// Runs vector_add (or scale<float>) on the GPU and checks the result.
void run_vector_add(CudaDriver* driver, const Kernel& kernel) {
  CudaFunction fn;
  Status s = driver->load(kernel, &fn);
  ASSERT_OK(s);
  const int n = 4096;
  std::vector<float> a(n), b(n), c(n, 0.f);
  for (int i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i);
    b[i] = 2.f * static_cast<float>(i);
  }
  uint64_t da = 0, db = 0, dc = 0;
  ASSERT_OK(driver->allocate(n * sizeof(float), &da));
  ASSERT_OK(driver->allocate(n * sizeof(float), &db));
  ASSERT_OK(driver->allocate(n * sizeof(float), &dc));
  ASSERT_OK(driver->copy_to_device(da, a.data(), n * sizeof(float)));
  ASSERT_OK(driver->copy_to_device(db, b.data(), n * sizeof(float)));
  int count = n;
  void* args[] = {&da, &db, &dc, &count};
  s = driver->launch(fn, {(n + 255) / 256, 1, 1}, {256, 1, 1}, 0, args);
  ASSERT_OK(s);
  ASSERT_OK(driver->synchronize());
  ASSERT_OK(driver->copy_to_host(c.data(), dc, n * sizeof(float)));
  for (int i = 0; i < n; ++i) ASSERT_EQ(c[i], 3.f * static_cast<float>(i)) << i;
  (void)driver->free(da);
  (void)driver->free(db);
  (void)driver->free(dc);
}

TEST(GpuTest, CompiledKernelLoadsAndRuns) {
  REQUIRE_GPU(driver);
  Engine engine(config_for(driver->device_arch()), RuntimeSettings::none());
  Kernel kernel;
  ASSERT_OK(engine.kernel("vector_add", &kernel));
  EXPECT_FALSE(kernel.from_cache);
  run_vector_add(driver, kernel);
}

TEST(GpuTest, KernelFromTheCacheFileLoadsAndRunsWithoutCompiling) {
  REQUIRE_GPU(driver);
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  {
    Engine cold(config_for(driver->device_arch()), RuntimeSettings::path(path));
    Kernel kernel;
    ASSERT_OK(cold.kernel("vector_add", &kernel));
    ASSERT_OK(cold.kernel("scale<float>", &kernel));
  }
  auto cache = testing::OpenCache(path);
  Engine warm(config_for(driver->device_arch()), RuntimeSettings::shared(cache));
  Kernel kernel;
  ASSERT_OK(warm.kernel("vector_add", &kernel));
  EXPECT_TRUE(kernel.from_cache);
  run_vector_add(driver, kernel);

  // A template kernel is found by its lowered (mangled) name from the metadata.
  Kernel scale;
  ASSERT_OK(warm.kernel("scale<float>", &scale));
  EXPECT_TRUE(scale.from_cache);
  CudaFunction fn;
  ASSERT_OK(driver->load(scale, &fn));
  const int n = 1000;
  std::vector<float> x(n, 1.5f);
  uint64_t dx = 0;
  ASSERT_OK(driver->allocate(n * sizeof(float), &dx));
  ASSERT_OK(driver->copy_to_device(dx, x.data(), n * sizeof(float)));
  float factor = 4.f;
  int count = n;
  void* args[] = {&dx, &factor, &count};
  ASSERT_OK(driver->launch(fn, {4, 1, 1}, {256, 1, 1}, 0, args));
  ASSERT_OK(driver->copy_to_host(x.data(), dx, n * sizeof(float)));
  for (float v : x) ASSERT_EQ(v, 6.f);
  (void)driver->free(dx);
  EXPECT_EQ(warm.stats().compiles, 0u);
}

TEST(GpuTest, PtxFromTheCacheIsJitCompiledByTheDriver) {
  REQUIRE_GPU(driver);
  std::string virtual_arch = "compute_" + driver->device_arch().substr(3);
  auto cache = RuntimeCache::create();
  Engine engine(config_for(virtual_arch), RuntimeSettings::shared(cache));
  Kernel kernel;
  ASSERT_OK(engine.kernel("vector_add", &kernel));
  ASSERT_OK(engine.kernel("vector_add", &kernel));
  EXPECT_TRUE(kernel.from_cache);
  run_vector_add(driver, kernel);
}

TEST(GpuTest, ACubinForANewerArchitectureFailsToLoadClearly) {
  REQUIRE_GPU(driver);
  // Machine code for a later GPU generation cannot run on this one.
  std::string newer = driver->device_arch() < "sm_100" ? "sm_100" : "sm_120";
  Engine engine(config_for(newer), RuntimeSettings::none());
  Kernel kernel;
  ASSERT_OK(engine.kernel("vector_add", &kernel));
  CudaFunction fn;
  Status s = driver->load(kernel, &fn);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("vector_add"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace rtcache
