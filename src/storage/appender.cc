#include "storage/appender.h"

namespace rtcache::store {
namespace {

// Pending bytes (or pieces) that make a write worth issuing.
constexpr size_t kWriteChunk = 4u << 20;
constexpr size_t kMaxPieces = 1024;

}  // namespace

Status Appender::append(std::string_view bytes) {
  pieces_.push_back(bytes);
  pending_ += bytes.size();
  return pending_ >= kWriteChunk || pieces_.size() >= kMaxPieces ? flush() : Status::OK();
}

Status Appender::append_owned(std::string bytes) {
  owned_.push_back(std::move(bytes));
  return append(owned_.back());
}

Status Appender::flush() {
  if (pieces_.empty()) return Status::OK();
  Status s = file_.write_gather(offset_, pieces_);
  offset_ += pending_;
  pending_ = 0;
  pieces_.clear();
  owned_.clear();
  return s;
}

Status append_index(Appender* out, const format::IndexInfo& info,
                    const std::vector<format::Slot>& slots, uint64_t* index_offset) {
  std::string bytes;
  uint64_t pad = format::pad_before_index(out->position());
  if (pad) format::append_pad(&bytes, pad);
  *index_offset = out->position() + pad;
  std::string value = format::encode_index_value(info, slots, *index_offset);
  format::append_record(&bytes, format::RecordType::kIndex, 0, {}, {}, value, value.size(),
                        info.saved_ns);
  return out->append_owned(std::move(bytes));
}

}  // namespace rtcache::store
