#include "storage/reader.h"

#include <algorithm>
#include <vector>

#include "storage/record_io.h"
#include "storage/trust.h"

namespace rtcache::store {
namespace {

using format::IndexInfo;
using format::IndexKind;
using format::kFileHeaderSize;
using format::kIndexAlignment;
using format::kRecordHeaderSize;
using format::RecordHeader;
using format::RecordType;
using format::Slot;

// A reader facing a torn tail probes this far back for the latest index
// before falling back to walking the records from the start.
constexpr uint64_t kBackwardProbeBytes = 16u << 20;
constexpr size_t kMaxChainLength = 64;

// Reads and verifies the index record at `offset`, which must end by
// `bound`, charging its length to *budget.
Status read_index(File& file, uint64_t offset, uint64_t bound, const Limits& limits,
                  uint64_t* budget, IndexInfo* info, std::vector<Slot>* slots, uint64_t* length) {
  if (offset < kFileHeaderSize || offset % kIndexAlignment != 0) {
    return Status::Corruption(record_at(file.path(), offset) + ": misplaced index");
  }
  Record record;
  std::string header_bytes;
  Status s = read_exact(file, offset, kRecordHeaderSize, &header_bytes);
  if (!s.ok()) return s;
  RecordHeader h;
  s = format::decode_record_header(header_bytes, &h);
  if (!s.ok()) return s.with_context(record_at(file.path(), offset));
  if (h.type != RecordType::kIndex || offset + h.record_length() > bound) {
    return Status::Corruption(record_at(file.path(), offset) + ": not a complete index");
  }
  if (h.record_length() > *budget) {
    return Status::Corruption(record_at(file.path(), offset) +
                              ": indexes overlap or repeat (more index bytes than the file holds)");
  }
  *budget -= h.record_length();
  Limits index_limits = limits;
  index_limits.max_value_bytes = std::max<uint64_t>(limits.max_value_bytes, bound);
  s = read_record(file, offset, h.record_length(), index_limits, ReadMode::kValue, &record);
  if (!s.ok()) return s;
  s = format::decode_index_value(record.value.view(), offset, info, slots);
  if (!s.ok()) return s.with_context(record_at(file.path(), offset));
  *length = h.record_length();
  return Status::OK();
}

// Follows the chain of indexes from the one at `head` back to a full index (or
// to `stop_at`, whose slots are `base`) and applies it. Each older index must
// end before the newer one starts (no overlap, never forwards), and every
// index read is charged to *budget, so that a crafted file cannot make an
// open cost more than linear time and memory. Slots that do not lie before
// their index are dropped as damage.
Status load_chain(View* view, uint64_t head, const Limits& limits, uint64_t stop_at,
                  const std::vector<Slot>* base, uint64_t* budget) {
  struct Link {
    IndexInfo info;
    std::vector<Slot> slots;
    uint64_t offset;
    uint64_t length;
  };
  std::vector<Link> chain;
  uint64_t offset = head;
  bool reached_base = false;
  while (true) {
    if (chain.size() >= kMaxChainLength) {
      return Status::Corruption(view->path + ": index chain is too long");
    }
    Link link;
    link.offset = offset;
    const uint64_t bound = chain.empty() ? view->file_size : chain.back().offset;
    Status s = read_index(*view->file, offset, bound, limits, budget, &link.info, &link.slots,
                          &link.length);
    if (!s.ok()) return s;
    chain.push_back(std::move(link));
    const IndexInfo& info = chain.back().info;
    if (info.kind == IndexKind::kFull) break;
    if (stop_at != 0 && info.prev_index_offset == stop_at) {
      reached_base = true;
      break;
    }
    offset = info.prev_index_offset;
  }
  std::vector<Slot> slots;
  size_t newest_applied = chain.size();
  if (reached_base) {
    slots = *base;
  } else {
    slots = std::move(chain.back().slots);
    if (!std::is_sorted(slots.begin(), slots.end(),
                        [](const Slot& a, const Slot& b) { return a.key_hash < b.key_hash; })) {
      slots = apply_slots({}, std::move(slots));
    }
    newest_applied = chain.size() - 1;
  }
  // All deltas, oldest first, merged in one pass (the last change to a key wins).
  std::vector<Slot> deltas;
  for (size_t i = newest_applied; i-- > 0;) {
    deltas.insert(deltas.end(), chain[i].slots.begin(), chain[i].slots.end());
  }
  if (!deltas.empty()) slots = apply_slots(slots, std::move(deltas));
  const uint64_t limit = chain.front().offset;
  std::erase_if(slots, [&](const Slot& s) {
    return s.offset < kFileHeaderSize || s.length < kRecordHeaderSize || s.offset > limit ||
           s.length > limit - s.offset;
  });
  view->slots = std::move(slots);
  view->has_index = true;
  view->index_offset = chain.front().offset;
  view->index_length = chain.front().length;
  view->index_info = chain.front().info;
  view->end = view->index_offset + view->index_length;
  return Status::OK();
}

// Applies every PUT/ERASE record from `from` on, verifying values, up to the
// first record that is incomplete or whose header does not verify.
void salvage(View* view, uint64_t from, const Limits& limits) {
  uint64_t pos = from;
  std::vector<Slot> found;
  while (pos + kRecordHeaderSize <= view->file_size) {
    Record record;
    Status s = read_record(*view->file, pos, 0, limits, ReadMode::kHeaderOnly, &record);
    if (!s.ok()) break;  // a header that does not verify: the torn tail starts here
    uint64_t length = record.header.record_length();
    if (length > view->file_size - pos) break;  // incomplete record
    RecordType type = record.header.type;
    if (type == RecordType::kPut || type == RecordType::kErase) {
      Record full;
      if (read_record(*view->file, pos, length, limits, ReadMode::kValue, &full).ok()) {
        uint64_t offset = type == RecordType::kPut ? pos : 0;
        found.push_back({format::hash_key(record.key), offset, offset ? length : 0,
                         record.header.timestamp_ns});
      } else {
        ++view->damaged_records;  // the boundary is sound; skip just this record
      }
    }
    pos += length;
  }
  view->end = pos;
  view->slots = apply_slots(view->slots, found);
  view->unindexed = std::move(found);
}

// Walks the records from the start to find the last index that verifies;
// used when neither the trailer nor the backward probe found one.
uint64_t find_index_by_walking(const View& view, const Limits& limits) {
  uint64_t pos = kFileHeaderSize, last_index = 0;
  while (pos + kRecordHeaderSize <= view.file_size) {
    Record record;
    if (!read_record(*view.file, pos, 0, limits, ReadMode::kHeaderOnly, &record).ok()) break;
    uint64_t length = record.header.record_length();
    if (length > view.file_size - pos) break;
    if (record.header.type == RecordType::kIndex && pos % kIndexAlignment == 0) last_index = pos;
    pos += length;
  }
  return last_index;
}

// The trailer at the end of the file, when it points at an index that ends
// exactly there (the state every completed save leaves): *found says whether
// it does. Only an I/O error is an error.
Status read_trailer(File& file, uint64_t size, format::Trailer* trailer, bool* found) {
  *found = false;
  if (size < kFileHeaderSize + format::index_record_length(0)) return Status::OK();
  std::string tail;
  Status s = read_exact(file, size - format::kTrailerSize, format::kTrailerSize, &tail);
  if (s.is_corruption()) return Status::OK();  // shorter than it was: no trailer
  if (!s.ok()) return s;
  *found = format::decode_trailer(tail, trailer) && trailer->index_offset < size &&
           trailer->index_length == size - trailer->index_offset;
  return Status::OK();
}

Status read_full(View* view, const Limits& limits, uint64_t* budget) {
  const uint64_t size = view->file_size;
  // The common case: the file ends with a trailer pointing at its last index.
  format::Trailer trailer;
  bool found = false;
  Status s = read_trailer(*view->file, size, &trailer, &found);
  if (!s.ok()) return s;
  if (found && load_chain(view, trailer.index_offset, limits, 0, nullptr, budget).ok()) {
    return Status::OK();
  }
  // A torn tail (a crashed or still running save): probe backwards for the
  // latest index, then salvage what follows it.
  uint64_t lowest = size > kBackwardProbeBytes ? size - kBackwardProbeBytes : 0;
  for (uint64_t pos = (size / kIndexAlignment) * kIndexAlignment;
       pos >= kIndexAlignment && pos >= lowest; pos -= kIndexAlignment) {
    if (pos + format::index_record_length(0) > size) continue;
    View attempt = *view;
    if (load_chain(&attempt, pos, limits, 0, nullptr, budget).ok()) {
      *view = std::move(attempt);
      salvage(view, view->end, limits);
      return Status::OK();
    }
  }
  uint64_t last_index = find_index_by_walking(*view, limits);
  if (last_index != 0 && load_chain(view, last_index, limits, 0, nullptr, budget).ok()) {
    salvage(view, view->end, limits);
    return Status::OK();
  }
  // No usable index at all: rebuild from the records themselves.
  view->slots.clear();
  view->has_index = false;
  salvage(view, kFileHeaderSize, limits);
  return Status::OK();
}
}  // namespace

Status read_view(std::shared_ptr<File> file, const Limits& limits,
                 const std::shared_ptr<const View>& previous, std::shared_ptr<const View>* out) {
  FileInfo info;
  Status s = file->stat(&info);
  if (!s.ok()) return s;
  const std::string& path = file->path();
  format::FileHeader header;
  s = read_file_header(*file, info.size, &header);
  if (!s.ok()) return s;

  // Opening reads at most this many bytes of index records, whatever the file
  // holds: index records never overlap, so a sound file needs at most its
  // size (once through the trailer's chain); the rest is for probing past a
  // torn tail. Memory follows: decoded slots take what their records took.
  uint64_t budget = 2 * info.size;
  const bool same_file = previous && previous->identity == info.identity &&
                         previous->header.file_id == header.file_id && info.identity.inode != 0;
  if (same_file && previous->file_size == info.size) {
    *out = previous;
    return Status::OK();
  }
  auto view = std::make_shared<View>();
  view->file = std::move(file);
  view->path = path;
  view->identity = info.identity;
  view->header = header;
  view->file_size = info.size;
  view->end = kFileHeaderSize;
  // Only new indexes were appended since `previous`: apply just those.
  if (same_file && previous->has_index && previous->unindexed.empty() &&
      info.size > previous->file_size) {
    format::Trailer trailer;
    bool found = false;
    s = read_trailer(*view->file, info.size, &trailer, &found);
    if (!s.ok()) return s;
    if (found && load_chain(view.get(), trailer.index_offset, limits, previous->index_offset,
                            &previous->slots, &budget)
                     .ok()) {
      view->live_bytes = sum_lengths(view->slots);
      *out = std::move(view);
      return Status::OK();
    }
    view->slots.clear();
  }
  s = read_full(view.get(), limits, &budget);
  if (!s.ok()) return s;
  view->live_bytes = sum_lengths(view->slots);
  *out = std::move(view);
  return Status::OK();
}

Status open_view(Env* env, const std::string& path, const Limits& limits,
                 const std::shared_ptr<const View>& previous, std::shared_ptr<const View>* out) {
  FileInfo info;
  Status s = env->stat(path, true, &info);
  if (!s.ok()) return s;
  if (previous && previous->identity == info.identity && previous->file_size == info.size) {
    *out = previous;  // unchanged: no need to even open it
    return Status::OK();
  }
  if (!info.is_regular) return Status::NotACacheFile(path + ": not a regular file");
  std::unique_ptr<File> file;
  s = env->open_read(path, &file);
  if (!s.ok()) return s;
  // Checked on what was opened: a file swapped in after the stat above is
  // the one judged.
  s = check_opened_trust(env, *file, limits);
  if (!s.ok()) return s;
  return read_view(std::shared_ptr<File>(std::move(file)), limits, previous, out);
}

}  // namespace rtcache::store
