#include "codec.h"

#include <zstd.h>

#include <cstring>

namespace rtcache::codec {
namespace {

// One context per thread, reused: creating a zstd context per value costs
// allocations that show in small saves and reads.
struct Contexts {
  ZSTD_CCtx* compress = ZSTD_createCCtx();
  ZSTD_DCtx* decompress = ZSTD_createDCtx();
  ~Contexts() {
    ZSTD_freeCCtx(compress);
    ZSTD_freeDCtx(decompress);
  }
};

Contexts& contexts() {
  thread_local Contexts c;
  return c;
}

}  // namespace

Compression encode(Compression wanted, int level, std::string_view raw, std::string* stored) {
  if (wanted == Compression::kZstd && raw.size() >= 64) {
    stored->resize(ZSTD_compressBound(raw.size()));
    size_t n = ZSTD_compressCCtx(contexts().compress, stored->data(), stored->size(), raw.data(),
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
  size_t n = ZSTD_decompressDCtx(contexts().decompress, raw, raw_len, stored.data(), stored.size());
  if (ZSTD_isError(n) || n != raw_len) {
    return Status::Corruption(std::string("zstd: ") +
                              (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output"));
  }
  return Status::OK();
}

}  // namespace rtcache::codec
