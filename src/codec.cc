#include "codec.h"

#include <zstd.h>

namespace rtcache::codec {

Compression encode(Compression wanted, int level, std::string_view raw, std::string* stored) {
  if (wanted == Compression::kZstd && raw.size() >= 64) {
    stored->resize(ZSTD_compressBound(raw.size()));
    size_t n = ZSTD_compress(stored->data(), stored->size(), raw.data(), raw.size(), level);
    if (!ZSTD_isError(n) && n < raw.size() - raw.size() / 8) {
      stored->resize(n);
      return Compression::kZstd;
    }
  }
  stored->clear();
  return Compression::kNone;
}

Status decode(Compression encoding, std::string_view stored, uint64_t raw_len, std::string* raw) {
  if (encoding == Compression::kNone) {
    if (stored.size() != raw_len) return Status::Corruption("stored length mismatch");
    raw->assign(stored);
    return Status::OK();
  }
  if (encoding != Compression::kZstd) return Status::Corruption("unknown value encoding");
  unsigned long long declared = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR || declared == ZSTD_CONTENTSIZE_UNKNOWN ||
      declared != raw_len) {
    return Status::Corruption("zstd frame does not declare the record's length");
  }
  raw->resize(raw_len);
  size_t n = ZSTD_decompress(raw->data(), raw->size(), stored.data(), stored.size());
  if (ZSTD_isError(n) || n != raw_len) {
    raw->clear();
    return Status::Corruption(std::string("zstd: ") +
                              (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output"));
  }
  return Status::OK();
}

}  // namespace rtcache::codec
