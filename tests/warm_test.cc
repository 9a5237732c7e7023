// `rtcache warm`: strict at image build, and keys the application agrees with.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/demo_kernels.h"
#include "rtcache/engine.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::ChildResult;
using testing::kTestChild;
using testing::run_child;
using testing::TempDir;
using testing::write_file;

constexpr const char* kTool = RTCACHE_rtcache_cli_PATH;

ChildResult Rtcache(std::vector<std::string> args) {
  args.insert(args.begin(), kTool);
  return run_child(args, {.unset = {"RTCACHE_LOG", "RTCACHE_MAX_SIZE"}});
}

// Kernels a source scan gets wrong: one in a namespace, one whose
// __launch_bounds__ is followed by a comment (llm.c's
// layernorm_backward_kernel10), one commented out, an explicit template
// instance, an extern "C" one and two overloads.
constexpr const char* kTrickySource = R"(
namespace ns { __global__ void inner(float* p) { p[0] = 1; } }
// __global__ void commented_out(int* p) {}
__global__ void __launch_bounds__(512, 2) /* 2 blocks per SM */ layernorm_backward_kernel10(float* p) { p[0] = 2; }
template <typename T> __global__ void scale(T* p) { p[0] *= 2; }
template __global__ void scale<double>(double*);
extern "C" __global__ void plain_c(int* p) { p[0] = 3; }
__global__ void over(int* p) { p[0] = 1; }
__global__ void over(float* p) { p[0] = 1; }
)";

const std::vector<std::string> kTrickyKernels = {
    "ns::inner", "layernorm_backward_kernel10", "scale<double>",
    "plain_c",   "(void(*)(int*))over",         "(void(*)(float*))over"};

EngineConfig TrickyConfig() {
  EngineConfig config;
  config.source = kTrickySource;
  config.arch = "sm_90";
  return config;
}

TEST(Warm, FindsEveryKernelFromTheCompilerNotFromTheText) {
  TempDir dir;
  write_file(dir.file("k.cu"), kTrickySource);
  const std::string cache = dir.file("c.rtc");
  ChildResult r = Rtcache({"warm", "--cache", cache, "--arch", "sm_90", dir.file("k.cu")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("warm: 6 compiled, 0 already cached, 0 failed"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("commented_out"), std::string::npos) << r.err;
  // The application asks by these names and compiles nothing.
  Engine engine(TrickyConfig(), RuntimeSettings::path(cache));
  for (const std::string& name : kTrickyKernels) {
    Kernel kernel;
    ASSERT_OK(engine.kernel(name, &kernel));
    EXPECT_TRUE(kernel.from_cache) << name;
  }
  EXPECT_EQ(engine.stats().compiles, 0u);
}

TEST(Warm, NamesInANamespaceAreWarmed) {
  TempDir dir;
  write_file(dir.file("k.cu"), kTrickySource);
  ChildResult r = Rtcache({"warm", "--cache", dir.file("c.rtc"), "--arch", "sm_90", "--name-expr",
                           "ns::inner", dir.file("k.cu")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("warm: 1 compiled, 0 already cached, 0 failed"), std::string::npos) << r.out;
}

TEST(Warm, AMistypedNameExpressionExitsOneNamingIt) {
  TempDir dir;
  write_file(dir.file("k.cu"), kTrickySource);
  ChildResult r = Rtcache({"warm", "--cache", dir.file("c.rtc"), "--arch", "sm_90", "--name-expr",
                           "scael<float>", "--name-expr", "scale<double>", dir.file("k.cu")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("scael<float>"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("warm: 1 compiled, 0 already cached, 1 failed"), std::string::npos) << r.out;
}

TEST(Warm, ANameExpressionNoSourceNamesExitsOneNamingIt) {
  TempDir dir;
  write_file(dir.file("a.cu"), "extern \"C\" __global__ void a_kernel() {}\n");
  write_file(dir.file("b.cu"), "extern \"C\" __global__ void b_kernel() {}\n");
  ChildResult r =
      Rtcache({"warm", "--cache", dir.file("c.rtc"), "--arch", "sm_90", "--name-expr", "a_kernel",
               "--name-expr", "c_kernel", dir.file("a.cu"), dir.file("b.cu")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("c_kernel"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("warm: 1 compiled, 0 already cached, 1 failed"), std::string::npos) << r.out;
}

TEST(Warm, DuplicatesAreCompiledOnce) {
  TempDir dir;
  write_file(dir.file("k.cu"), kTrickySource);
  ChildResult r =
      Rtcache({"warm", "--cache", dir.file("c.rtc"), "--arch", "sm_90", "--name-expr", "plain_c",
               "--name-expr", "plain_c", dir.file("k.cu"), dir.file("k.cu")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("warm: 1 compiled, 0 already cached, 0 failed"), std::string::npos) << r.out;
}

// Off a terminal (CI, an image build's log) each kernel is a line as it
// finishes, so a long warm shows it is alive. Here stderr is a file.
TEST(Warm, OffATerminalEachKernelIsALine) {
  TempDir dir;
  write_file(dir.file("k.cu"), kTrickySource);
  ChildResult r = Rtcache({"warm", "--cache", dir.file("c.rtc"), "--arch", "sm_90", "-j", "1",
                           "--name-expr", "plain_c", "--name-expr", "ns::inner", dir.file("k.cu")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warm: [1/2] compiled"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("warm: [2/2] compiled"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("k.cu: ns::inner"), std::string::npos) << r.err;
}

TEST(Warm, JobsMustBeAPositiveCount) {
  TempDir dir;
  write_file(dir.file("k.cu"), kTrickySource);
  ChildResult r = Rtcache(
      {"warm", "--cache", dir.file("c.rtc"), "--arch", "sm_90", "-j", "0", dir.file("k.cu")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("-j"), std::string::npos) << r.err;
}

// Every error NVRTC reports, not the first line only.
TEST(Warm, AFailureShowsTheCompilersWholeLog) {
  TempDir dir;
  write_file(dir.file("bad.cu"),
             "__global__ void broken(int* p) {\n  first_missing(p);\n  second_missing(p);\n"
             "  third_missing(p);\n}\n");
  ChildResult r =
      Rtcache({"warm", "--cache", dir.file("c.rtc"), "--arch", "sm_90", dir.file("bad.cu")});
  EXPECT_EQ(r.exit_code, 1);
  for (const char* name : {"bad.cu", "first_missing", "second_missing", "third_missing"}) {
    EXPECT_NE(r.err.find(name), std::string::npos) << name << " in " << r.err;
  }
}

// --header NAME=FILE is EngineConfig::headers: warm and the application
// compute the same key, in whatever order each lists the headers.
TEST(Warm, HeadersAreGivenAsTheApplicationGivesThem) {
  TempDir dir;
  const std::string source =
      "#include \"tile.h\"\n#include \"act.h\"\n"
      "extern \"C\" __global__ void tiled(float* p) { p[0] = ACT(TILE); }\n";
  write_file(dir.file("k.cu"), source);
  write_file(dir.file("tile.h"), "#define TILE 64\n");
  write_file(dir.file("act.h"), "#define ACT(x) ((x) > 0 ? (x) : 0)\n");
  const std::string cache = dir.file("c.rtc");
  ChildResult without = Rtcache({"warm", "--cache", cache, "--arch", "sm_90", dir.file("k.cu")});
  EXPECT_EQ(without.exit_code, 1) << "tile.h is not on disk where NVRTC looks";
  ChildResult r = Rtcache({"warm", "--cache", cache, "--arch", "sm_90", "--header",
                           "tile.h=" + dir.file("tile.h"), "--header", "act.h=" + dir.file("act.h"),
                           dir.file("k.cu")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EngineConfig config;
  config.source = source;
  config.arch = "sm_90";
  config.headers = {{"act.h", "#define ACT(x) ((x) > 0 ? (x) : 0)\n"},
                    {"tile.h", "#define TILE 64\n"}};
  Engine engine(config, RuntimeSettings::path(cache));
  Kernel kernel;
  ASSERT_OK(engine.kernel("tiled", &kernel));
  EXPECT_TRUE(kernel.from_cache);
  EXPECT_EQ(engine.stats().compiles, 0u);
  ChildResult bad = Rtcache(
      {"warm", "--cache", cache, "--arch", "sm_90", "--header", "tile.h", dir.file("k.cu")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("NAME=FILE"), std::string::npos) << bad.err;
}

// The image-build story, end to end with the demo's 39 kernels: `rtcache
// warm` as root (an image's RUN step) into a directory; then the
// application's engines, as uid 65534 with that directory mounted read-only,
// find every kernel: 0 compiles, nothing said, no file created.
TEST(Warm, AnImageWarmedAsRootServesAServiceUserOnAReadOnlyMount) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root for mounts and another user";
  TempDir image, cache_dir;  // open to the service user, as an image's directories are
  for (const TempDir* d : {&image, &cache_dir}) ASSERT_EQ(::chmod(d->path().c_str(), 0755), 0);
  const std::string kernels = image.file("kernels");
  const std::string bin = image.file("bin");
  for (const std::string& d : {kernels, bin}) ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
  for (const char* file :
       {"common.cuh", "elementwise.cu", "reduce.cu", "softmax.cu", "layernorm.cu", "gemm.cu",
        "transpose.cu", "stencil.cu", "attention.cu", "cub_block.cu"}) {
    write_file(kernels + "/" + file,
               testing::read_file(std::string(bundled::kKernelDir) + "/" + file));
  }
  // The demo's engines: its options, common.cuh in memory, each kernel by name.
  const std::string cache = cache_dir.file("kernels.rtc");
  std::vector<std::string> warm = {"warm", "--cache", cache, "--arch", "sm_90"};
  for (const std::string& option : bundled::nvrtc_options()) warm.push_back("--option=" + option);
  warm.insert(warm.end(), {"--header", "common.cuh=" + kernels + "/common.cuh"});
  for (const bundled::DemoKernel& k : bundled::kDemoKernels) {
    warm.push_back(std::string("--name-expr=") + k.name_expression);
  }
  std::vector<std::string> sources;
  for (const bundled::DemoKernel& k : bundled::kDemoKernels) {
    const std::string source = kernels + "/" + k.module;
    if (std::find(sources.begin(), sources.end(), source) == sources.end())
      sources.push_back(source);
  }
  warm.insert(warm.end(), sources.begin(), sources.end());
  ChildResult warmed = Rtcache(warm);
  ASSERT_EQ(warmed.exit_code, 0) << warmed.err;
  ASSERT_NE(warmed.out.find("warm: 39 compiled, 0 already cached, 0 failed"), std::string::npos)
      << warmed.out;
  ASSERT_EQ(::chmod(cache.c_str(), 0644), 0);
  ::unlink((cache + ".lock").c_str());  // an image ships the cache, not its lock file
  ASSERT_EQ(cache_dir.names(), std::vector<std::string>{"kernels.rtc"});

  std::vector<std::string> as_service = testing::kAsOtherUser;
  as_service.insert(as_service.end(),
                    {testing::CopyForOtherUsers(kTestChild, bin), "demo", kernels, cache});
  ChildResult r = testing::UnderReadOnlyMount(cache_dir.path(), as_service);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "kernels 39 hits 39 compiles 0 failed 0\n") << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(cache_dir.names(), std::vector<std::string>{"kernels.rtc"});
}

}  // namespace
}  // namespace rtcache
