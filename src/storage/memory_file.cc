#include "storage/memory_file.h"

#include <algorithm>
#include <cstring>

namespace rtcache::store {
namespace {

class MemoryFile final : public File {
 public:
  MemoryFile(std::string name, std::string bytes)
      : name_(std::move(name)), bytes_(std::move(bytes)) {}
  Status read_at(uint64_t offset, size_t n, char* dst, size_t* got) override {
    *got = offset >= bytes_.size() ? 0 : std::min<uint64_t>(n, bytes_.size() - offset);
    if (*got) std::memcpy(dst, bytes_.data() + offset, *got);
    return Status::OK();
  }
  Status write_at(uint64_t, std::string_view) override { return read_only(); }
  Status sync() override { return Status::OK(); }
  Status truncate(uint64_t) override { return read_only(); }
  Status stat(FileInfo* info) override {
    *info = FileInfo{};
    info->size = bytes_.size();
    info->is_regular = true;
    return Status::OK();
  }
  Status set_mode(uint32_t) override { return read_only(); }
  Status close() override { return Status::OK(); }
  const std::string& path() const override { return name_; }

 private:
  Status read_only() { return Status::NotSupported(name_ + ": read-only"); }
  std::string name_;
  std::string bytes_;
};

}  // namespace

std::shared_ptr<File> memory_file(std::string name, std::string bytes) {
  return std::make_shared<MemoryFile>(std::move(name), std::move(bytes));
}

}  // namespace rtcache::store
