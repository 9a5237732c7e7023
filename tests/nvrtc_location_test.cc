// NVRTC is found where CUDA installs put it, and a wrong explicit choice is an
// error naming it. Each case is a child process with its own environment; the
// runtime-only layout hides the toolkit's lib64 behind an empty directory in
// a private mount namespace (unshare -m, as root).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "test_util.h"

namespace rtcache {
namespace {

using testing::ChildOptions;
using testing::ChildResult;
using testing::Exited;
using testing::kTestChild;
using testing::run_child;
using testing::TempDir;

constexpr const char* kToolkitLib = "/usr/local/cuda/lib64";

// The versioned NVRTC of the toolkit (libnvrtc.so.<major>) and its builtins.
std::vector<std::string> RuntimeOnlyFiles() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kToolkitLib)) {
    const std::string name = entry.path().filename();
    if (name.rfind("libnvrtc.so.", 0) == 0 || name.rfind("libnvrtc-builtins.so.", 0) == 0) {
      names.push_back(name);
    }
  }
  return names;
}

ChildResult CompileWith(const std::vector<std::string>& env) {
  return run_child({kTestChild, "compile"},
                   {.env = env, .unset = {"CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH"}});
}

TEST(NvrtcLocation, AnExplicitLibraryThatIsNotThereIsAnErrorNamingIt) {
  ChildResult r = CompileWith({"RTCACHE_NVRTC=/nonexistent/libnvrtc.so"});
  EXPECT_TRUE(Exited(r.status, 0)) << r.err;
  EXPECT_NE(r.out.find("RTCACHE_NVRTC=/nonexistent/libnvrtc.so"), std::string::npos) << r.out;
}

TEST(NvrtcLocation, ARuntimeOnlyLayoutIsFoundThroughTheVersionedSoname) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root for a private mount namespace (unshare -m)";
  const std::vector<std::string> files = RuntimeOnlyFiles();
  ASSERT_FALSE(files.empty()) << kToolkitLib << " has no libnvrtc.so.<major>";
  TempDir cuda;  // what a CUDA runtime image ships: lib64 without the libnvrtc.so link
  const std::string lib = cuda.file("lib64");
  std::filesystem::create_directory(lib);
  for (const std::string& name : files) {
    testing::write_file(lib + "/" + name,
                        testing::read_file(std::string(kToolkitLib) + "/" + name));
  }
  TempDir empty;
  const std::string hide = "mount --bind " + empty.path() + " " + kToolkitLib + " && exec \"$@\"";
  // Through the loader's path, and through CUDA_PATH (LD_LIBRARY_PATH also
  // lets NVRTC find its builtins, which it loads by soname).
  for (const std::string& how : {"LD_LIBRARY_PATH=" + lib, "CUDA_PATH=" + cuda.path()}) {
    SCOPED_TRACE(how);
    ChildResult r =
        run_child({"/usr/bin/unshare", "-m", "/bin/sh", "-c", hide, "sh", kTestChild, "compile"},
                  {.env = {how, "LD_LIBRARY_PATH=" + lib},
                   .unset = {"CUDA_HOME", "CUDA_PATH", "RTCACHE_NVRTC"}});
    EXPECT_TRUE(Exited(r.status, 0)) << r.err;
    EXPECT_EQ(r.out, "compiled\n") << r.err;
  }
}

TEST(NvrtcLocation, NotFoundListsEachPlaceOnce) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root for a private mount namespace (unshare -m)";
  TempDir empty;
  const std::string hide = "mount --bind " + empty.path() + " " + kToolkitLib + " && exec \"$@\"";
  ChildResult r =
      run_child({"/usr/bin/unshare", "-m", "/bin/sh", "-c", hide, "sh", kTestChild, "compile"},
                {.env = {"CUDA_HOME=" + std::string("/usr/local/cuda")},
                 .unset = {"CUDA_PATH", "LD_LIBRARY_PATH", "RTCACHE_NVRTC"}});
  EXPECT_TRUE(Exited(r.status, 0)) << r.err;
  EXPECT_NE(r.out.find("NVRTC not found"), std::string::npos) << r.out;
  const std::string place = std::string(kToolkitLib) + ",";
  const size_t first = r.out.find(place);
  EXPECT_NE(first, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(place, first + 1), std::string::npos) << "listed twice: " << r.out;
}

}  // namespace
}  // namespace rtcache
