#include "storage/codec.h"

#include <zstd.h>

#include <cstring>
#include <mutex>
#include <vector>

namespace rtcache::codec {
namespace {

// zstd contexts are reused, not created per value (that costs allocations
// that show in small saves and reads). They are kept in a process-wide pool
// rather than in thread_local objects: a thread_local with a destructor in a
// library that is dlclose()d would leave the C runtime calling unloaded code.
template <typename Context, Context* (*Create)(), size_t (*Free)(Context*)>
class ContextPool {
 public:
  class Lease {
   public:
    Lease(ContextPool& pool, Context* context) : pool_(pool), context_(context) {}
    ~Lease() { pool_.give_back(context_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Context* get() const { return context_; }

   private:
    ContextPool& pool_;
    Context* context_;
  };

  Lease take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return Lease(*this, Create());
    Context* c = free_.back();
    free_.pop_back();
    return Lease(*this, c);
  }

 private:
  void give_back(Context* context) {
    if (context == nullptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kKeep) {
      free_.push_back(context);
    } else {
      Free(context);
    }
  }
  static constexpr size_t kKeep = 16;
  std::mutex mu_;
  std::vector<Context*> free_;
};

using CompressPool = ContextPool<ZSTD_CCtx, ZSTD_createCCtx, ZSTD_freeCCtx>;
using DecompressPool = ContextPool<ZSTD_DCtx, ZSTD_createDCtx, ZSTD_freeDCtx>;

// Never destroyed: saves may run during static destruction.
CompressPool& compress_pool() {
  static CompressPool* pool = new CompressPool();
  return *pool;
}
DecompressPool& decompress_pool() {
  static DecompressPool* pool = new DecompressPool();
  return *pool;
}

}  // namespace

Compression encode(Compression wanted, int level, std::string_view raw, std::string* stored) {
  if (wanted == Compression::kZstd && raw.size() >= 64) {
    stored->resize(ZSTD_compressBound(raw.size()));
    auto context = compress_pool().take();
    size_t n = ZSTD_compressCCtx(context.get(), stored->data(), stored->size(), raw.data(),
                                 raw.size(), level);
    if (!ZSTD_isError(n) && n < raw.size() - raw.size() / 8) {
      stored->resize(n);
      return Compression::kZstd;
    }
  }
  stored->clear();
  return Compression::kNone;
}

Status decode(Compression encoding, std::string_view stored, uint64_t raw_len, char* raw) {
  if (encoding == Compression::kNone) {
    if (stored.size() != raw_len) return Status::Corruption("stored length mismatch");
    std::memcpy(raw, stored.data(), stored.size());
    return Status::OK();
  }
  if (encoding != Compression::kZstd) return Status::Corruption("unknown value encoding");
  unsigned long long declared = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN ||
      declared != raw_len) {
    return Status::Corruption("zstd frame does not declare the record's length");
  }
  auto context = decompress_pool().take();
  size_t n = ZSTD_decompressDCtx(context.get(), raw, raw_len, stored.data(), stored.size());
  if (ZSTD_isError(n) || n != raw_len) {
    return Status::Corruption(std::string("zstd: ") +
                              (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output"));
  }
  return Status::OK();
}

}  // namespace rtcache::codec
