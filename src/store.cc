#include "store.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <random>

#include "codec.h"

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
// Deltas chained before a full index is written again.
constexpr uint32_t kMaxIndexDepth = 15;
constexpr size_t kMaxChainLength = 64;
constexpr size_t kWriteChunk = 4u << 20;

std::string at(const std::string& path, uint64_t offset) {
  return path + ": record at offset " + std::to_string(offset);
}

Status read_exact(File& file, uint64_t offset, size_t n, std::string* out) {
  out->resize(n);
  size_t got = 0;
  Status s = file.read_at(offset, n, out->data(), &got);
  if (!s.ok()) return s;
  if (got != n) return Status::Corruption(at(file.path(), offset) + ": truncated");
  return Status::OK();
}

uint64_t sum_lengths(const std::vector<Slot>& slots) {
  uint64_t total = 0;
  for (const Slot& s : slots) total += s.length;
  return total;
}

uint64_t random_id() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// Reads and verifies the index record at `offset`.
Status read_index(File& file, uint64_t offset, uint64_t bound, const Limits& limits,
                  IndexInfo* info, std::vector<Slot>* slots, uint64_t* length) {
  if (offset < kFileHeaderSize || offset % kIndexAlignment != 0) {
    return Status::Corruption(at(file.path(), offset) + ": misplaced index");
  }
  Record record;
  std::string header_bytes;
  Status s = read_exact(file, offset, kRecordHeaderSize, &header_bytes);
  if (!s.ok()) return s;
  RecordHeader h;
  s = format::decode_record_header(header_bytes, &h);
  if (!s.ok()) return s.with_context(at(file.path(), offset));
  if (h.type != RecordType::kIndex || offset + h.record_length() > bound) {
    return Status::Corruption(at(file.path(), offset) + ": not a complete index");
  }
  Limits index_limits = limits;
  index_limits.max_value_bytes = std::max<uint64_t>(limits.max_value_bytes, bound);
  s = read_record(file, offset, h.record_length(), index_limits, ReadMode::kValue, &record);
  if (!s.ok()) return s;
  s = format::decode_index_value(record.value.view(), offset, info, slots);
  if (!s.ok()) return s.with_context(at(file.path(), offset));
  *length = h.record_length();
  return Status::OK();
}

// Follows the chain of indexes from the one at `head` back to a full index (or
// to `stop_at`, whose slots are `base`) and applies it. Slots that do not lie
// before their index are dropped as damage.
Status load_chain(View* view, uint64_t head, const Limits& limits, uint64_t stop_at,
                  const std::vector<Slot>* base) {
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
    Status s = read_index(*view->file, offset, view->file_size, limits, &link.info, &link.slots,
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

Status read_full(View* view, const Limits& limits) {
  const uint64_t size = view->file_size;
  // The common case: the file ends with a trailer pointing at its last index.
  if (size >= kFileHeaderSize + format::index_record_length(0)) {
    std::string tail;
    format::Trailer trailer;
    Status s = read_exact(*view->file, size - format::kTrailerSize, format::kTrailerSize, &tail);
    if (!s.ok() && !s.is_corruption()) return s;
    if (s.ok() && format::decode_trailer(tail, &trailer) && trailer.index_offset < size &&
        trailer.index_length == size - trailer.index_offset &&
        load_chain(view, trailer.index_offset, limits, 0, nullptr).ok()) {
      return Status::OK();
    }
  }
  // A torn tail (a crashed or still running save): probe backwards for the
  // latest index, then salvage what follows it.
  uint64_t lowest = size > kBackwardProbeBytes ? size - kBackwardProbeBytes : 0;
  for (uint64_t pos = (size / kIndexAlignment) * kIndexAlignment;
       pos >= kIndexAlignment && pos >= lowest; pos -= kIndexAlignment) {
    if (pos + format::index_record_length(0) > size) continue;
    View attempt = *view;
    if (load_chain(&attempt, pos, limits, 0, nullptr).ok()) {
      *view = std::move(attempt);
      salvage(view, view->end, limits);
      return Status::OK();
    }
  }
  uint64_t last_index = find_index_by_walking(*view, limits);
  if (last_index != 0 && load_chain(view, last_index, limits, 0, nullptr).ok()) {
    salvage(view, view->end, limits);
    return Status::OK();
  }
  // No usable index at all: rebuild from the records themselves.
  view->slots.clear();
  view->has_index = false;
  salvage(view, kFileHeaderSize, limits);
  return Status::OK();
}

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

// Gathers appends into large vectored writes. Borrowed pieces must stay
// alive until flush(); owned ones are kept here.
class Appender {
 public:
  Appender(File& file, uint64_t offset) : file_(file), offset_(offset) {}
  uint64_t position() const { return offset_ + pending_; }
  Status append(std::string_view bytes) {
    pieces_.push_back(bytes);
    pending_ += bytes.size();
    return pending_ >= kWriteChunk || pieces_.size() >= 1024 ? flush() : Status::OK();
  }
  Status append_owned(std::string bytes) {
    owned_.push_back(std::move(bytes));
    return append(owned_.back());
  }
  Status flush() {
    if (pieces_.empty()) return Status::OK();
    Status s = file_.write_gather(offset_, pieces_);
    offset_ += pending_;
    pending_ = 0;
    pieces_.clear();
    owned_.clear();
    return s;
  }

 private:
  File& file_;
  uint64_t offset_;
  uint64_t pending_ = 0;
  std::vector<std::string_view> pieces_;
  std::deque<std::string> owned_;  // stable addresses
};

// Appends padding, an index of `slots`, and returns the index's offset.
Status append_index(Appender* out, const IndexInfo& info, const std::vector<Slot>& slots,
                    uint64_t* index_offset) {
  std::string bytes;
  uint64_t pad = format::pad_before_index(out->position());
  if (pad) format::append_pad(&bytes, pad);
  *index_offset = out->position() + pad;
  std::string value = format::encode_index_value(info, slots, *index_offset);
  format::append_record(&bytes, RecordType::kIndex, 0, {}, {}, value, value.size(), info.saved_ns);
  return out->append_owned(std::move(bytes));
}

std::string base_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string temp_prefix(const std::string& path) {
  return base_name(path) + ".tmp-";
}

// Temp files can only be left by a writer that died: every writer holds the
// lock while its temp file exists, and so do we.
void remove_stale_temps(Env* env, const std::string& path) {
  std::vector<std::string> names;
  std::string dir = parent_dir(path), prefix = temp_prefix(path);
  if (!env->list_dir(dir, &names).ok()) return;
  for (const std::string& name : names) {
    if (name.starts_with(prefix)) (void)env->remove(dir + "/" + name);
  }
}

struct NewFile {
  std::shared_ptr<File> file;
  std::vector<Slot> slots;  // sorted
  uint64_t size = 0;
  uint64_t index_offset = 0;
  IndexInfo info;
  format::FileHeader header;
};

// Writes a complete file into a new temp file and renames it over `path`.
// `write_records` appends the records and returns their slots.
template <typename WriteRecords>
Status write_new_file(Env* env, const std::string& path, const CommitOptions& options,
                      uint64_t generation, WriteRecords&& write_records, NewFile* out) {
  remove_stale_temps(env, path);
  std::unique_ptr<File> temp;
  Status s = env->create_temp(parent_dir(path), temp_prefix(path), options.file_mode, &temp);
  if (!s.ok()) return s;
  const std::string temp_path = temp->path();
  auto fail = [&](Status error) {
    (void)temp->close();
    (void)env->remove(temp_path);
    return error;
  };
  out->header.file_id = random_id();
  out->header.created_ns = env->now_nanos();
  Appender appender(*temp, 0);
  s = appender.append_owned(format::encode_file_header(out->header));
  if (!s.ok()) return fail(s);
  std::vector<Slot> slots;
  s = write_records(&appender, &slots);
  if (!s.ok()) return fail(s);
  out->slots = apply_slots({}, std::move(slots));
  out->info = IndexInfo{};
  out->info.kind = IndexKind::kFull;
  out->info.generation = generation;
  out->info.saved_ns = env->now_nanos();
  s = append_index(&appender, out->info, out->slots, &out->index_offset);
  if (s.ok()) s = appender.flush();
  if (s.ok() && options.sync) s = temp->sync();
  if (!s.ok()) return fail(s);
  out->size = out->index_offset + format::index_record_length(out->slots.size());
  s = env->rename(temp_path, path);
  if (!s.ok()) return fail(s);
  if (options.sync) {
    s = env->sync_dir(parent_dir(path));
    if (!s.ok()) return s;  // renamed, but not known durable: report it
  }
  out->file = std::move(temp);
  return Status::OK();
}

std::shared_ptr<const View> view_of(const NewFile& nf, const std::string& path) {
  auto view = std::make_shared<View>();
  view->file = nf.file;
  view->path = path;
  FileInfo info;
  if (nf.file->stat(&info).ok()) view->identity = info.identity;
  view->header = nf.header;
  view->file_size = view->end = nf.size;
  view->slots = nf.slots;
  view->live_bytes = sum_lengths(view->slots);
  view->has_index = true;
  view->index_offset = nf.index_offset;
  view->index_length = nf.size - nf.index_offset;
  view->index_info = nf.info;
  return view;
}

// Rewrites `current` without dead bytes; damaged records are dropped.
Status compact_file_impl(Env* env, const std::string& path, const CommitOptions& options,
                         const View& current, std::shared_ptr<const View>* out) {
  std::vector<Slot> by_offset = current.slots;
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Slot& a, const Slot& b) { return a.offset < b.offset; });
  NewFile nf;
  Status s = write_new_file(
      env, path, options, current.index_info.generation + 1,
      [&](Appender* appender, std::vector<Slot>* slots) {
        for (const Slot& slot : by_offset) {
          Record record;
          Status rs = read_record(*current.file, slot.offset, slot.length, options.limits,
                                  ReadMode::kValueAndRaw, &record);
          if (rs.is_io_error()) return rs;
          if (!rs.ok()) continue;  // damaged: not carried over
          slots->push_back({slot.key_hash, appender->position(), slot.length, slot.last_used_ns});
          rs = appender->append_owned(std::move(record.raw));
          if (!rs.ok()) return rs;
        }
        return Status::OK();
      },
      &nf);
  if (!s.ok()) return s;
  *out = view_of(nf, path);
  return Status::OK();
}

// The key of an encoded record (its header, then the key bytes).
std::string_view key_of(const EncodedRecord& r) {
  RecordHeader h;
  if (!format::decode_record_header(r.head, &h).ok()) return {};
  return std::string_view(r.head).substr(kRecordHeaderSize, h.key_len);
}

bool in_use(const CommitOptions& options, uint64_t key_hash) {
  return std::binary_search(options.in_use.begin(), options.in_use.end(), key_hash);
}

// Orders eviction candidates: entries this process does not use first, then
// least recently used first.
template <typename Item, typename HashOf, typename LastUsedOf>
void order_for_eviction(std::vector<Item>* items, const CommitOptions& options, HashOf hash_of,
                        LastUsedOf last_used_of) {
  std::stable_sort(items->begin(), items->end(), [&](const Item& a, const Item& b) {
    bool ua = in_use(options, hash_of(a)), ub = in_use(options, hash_of(b));
    if (ua != ub) return !ua;
    return last_used_of(a) < last_used_of(b);
  });
}

}  // namespace

Status check_trust(const std::string& path, const FileInfo& info, const Limits& limits) {
  if (limits.trust_others || !info.is_regular) return Status::OK();
  if (info.owner_uid != static_cast<uint32_t>(::geteuid())) {
    return Status::PermissionDenied(path + ": owned by another user (uid " +
                                    std::to_string(info.owner_uid) +
                                    "); not trusted (see Options::trust_others)");
  }
  if (info.mode & 0022) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", info.mode & 07777);
    return Status::PermissionDenied(path + ": writable by group or others (mode " + mode +
                                    "); not trusted (see Options::trust_others)");
  }
  return Status::OK();
}

const Slot* View::find(uint64_t key_hash) const {
  auto it = std::lower_bound(slots.begin(), slots.end(), key_hash,
                             [](const Slot& s, uint64_t h) { return s.key_hash < h; });
  return it != slots.end() && it->key_hash == key_hash ? &*it : nullptr;
}

uint64_t View::dead_bytes() const {
  uint64_t used = kFileHeaderSize + live_bytes + index_length;
  return file_size > used ? file_size - used : 0;
}

std::vector<Slot> apply_slots(const std::vector<Slot>& base, std::vector<Slot> delta) {
  std::stable_sort(delta.begin(), delta.end(),
                   [](const Slot& a, const Slot& b) { return a.key_hash < b.key_hash; });
  std::vector<Slot> out;
  out.reserve(base.size() + delta.size());
  size_t i = 0, j = 0;
  while (i < base.size() || j < delta.size()) {
    if (j == delta.size() || (i < base.size() && base[i].key_hash < delta[j].key_hash)) {
      out.push_back(base[i++]);
      continue;
    }
    // The last change to a key wins.
    size_t last = j;
    while (last + 1 < delta.size() && delta[last + 1].key_hash == delta[j].key_hash) ++last;
    if (i < base.size() && base[i].key_hash == delta[j].key_hash) ++i;
    if (delta[last].offset != 0) out.push_back(delta[last]);
    j = last + 1;
  }
  return out;
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status read_record(File& file, uint64_t offset, uint64_t length, const Limits& limits,
                   ReadMode mode, Record* record) {
  const std::string& path = file.path();
  auto damaged = [&](const std::string& why) {
    return Status::Corruption(at(path, offset) + ": " + why);
  };
  // With the length known (from an index) the whole record is read with one
  // pread into an uninitialised buffer (no zero fill); a raw value is then
  // handed out in place, inside it.
  std::shared_ptr<char[]> whole;
  char head_copy[kRecordHeaderSize];
  const char* head = head_copy;
  size_t got = 0;
  Status s;
  if (length >= kRecordHeaderSize && length <= limits.max_value_bytes + (2u << 20) &&
      mode != ReadMode::kHeaderOnly) {
    whole = std::make_shared_for_overwrite<char[]>(length);
    s = file.read_at(offset, length, whole.get(), &got);
    if (!s.ok()) return s;
    if (got != length) return damaged("truncated");
    head = whole.get();
  } else {
    s = file.read_at(offset, kRecordHeaderSize, head_copy, &got);
    if (!s.ok()) return s;
    if (got != kRecordHeaderSize) return damaged("truncated");
  }
  s = format::decode_record_header({head, kRecordHeaderSize}, &record->header);
  if (!s.ok()) return s.with_context(at(path, offset));
  const RecordHeader& h = record->header;
  if (length != 0 && h.record_length() != length) return damaged("length does not match the index");
  if (h.value_len > limits.max_value_bytes || h.raw_len > limits.max_value_bytes) {
    return damaged("value larger than the configured maximum");
  }
  const std::string_view head_view(head, kRecordHeaderSize);
  if (mode == ReadMode::kHeaderOnly) {
    std::string key_meta;
    s = read_exact(file, offset + kRecordHeaderSize, h.key_len + h.meta_len, &key_meta);
    if (!s.ok()) return s;
    if (!format::head_hash_matches(head_view, key_meta)) return damaged("header checksum mismatch");
    record->key = key_meta.substr(0, h.key_len);
    record->meta = key_meta.substr(h.key_len);
    return Status::OK();
  }
  const size_t rest_len = h.record_length() - kRecordHeaderSize;
  std::shared_ptr<char[]> owner = whole;
  const char* rest = whole ? whole.get() + kRecordHeaderSize : nullptr;
  if (!whole) {
    owner = std::make_shared_for_overwrite<char[]>(rest_len);
    s = file.read_at(offset + kRecordHeaderSize, rest_len, owner.get(), &got);
    if (!s.ok()) return s;
    if (got != rest_len) return damaged("truncated");
    rest = owner.get();
  }
  std::string_view key_meta(rest, h.key_len + h.meta_len);
  if (!format::head_hash_matches(head_view, key_meta)) return damaged("header checksum mismatch");
  std::string_view stored(rest + key_meta.size(), h.value_len);
  if (format::hash_bytes(stored) != h.value_hash) return damaged("value checksum mismatch");
  record->key.assign(key_meta.substr(0, h.key_len));
  record->meta.assign(key_meta.substr(h.key_len));
  if (mode == ReadMode::kValueAndRaw) {
    record->raw.reserve(h.record_length());
    record->raw.assign(head, kRecordHeaderSize);
    record->raw.append(rest, rest_len);
  }
  if (h.encoding == static_cast<uint8_t>(Compression::kNone)) {
    record->value =
        Bytes(std::shared_ptr<const void>(owner, owner.get()), stored.data(), stored.size());
    return Status::OK();
  }
  std::shared_ptr<char[]> raw = std::make_shared_for_overwrite<char[]>(h.raw_len);
  s = codec::decode(static_cast<Compression>(h.encoding), stored, h.raw_len, raw.get());
  if (!s.ok()) return s.with_context(at(path, offset));
  record->value = Bytes(std::shared_ptr<const void>(raw, raw.get()), raw.get(), h.raw_len);
  return Status::OK();
}

Status read_view(std::shared_ptr<File> file, const Limits& limits,
                 const std::shared_ptr<const View>& previous, std::shared_ptr<const View>* out) {
  FileInfo info;
  Status s = file->stat(&info);
  if (!s.ok()) return s;
  const std::string& path = file->path();
  std::string header_bytes;
  size_t got = 0;
  header_bytes.resize(std::min<uint64_t>(info.size, kFileHeaderSize));
  s = file->read_at(0, header_bytes.size(), header_bytes.data(), &got);
  if (!s.ok()) return s;
  header_bytes.resize(got);
  format::FileHeader header;
  s = format::decode_file_header(header_bytes, &header);
  if (!s.ok()) return s.with_context(path);

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
    std::string tail;
    format::Trailer trailer;
    if (read_exact(*view->file, info.size - format::kTrailerSize, format::kTrailerSize, &tail)
            .ok() &&
        format::decode_trailer(tail, &trailer) && trailer.index_offset < info.size &&
        trailer.index_length == info.size - trailer.index_offset &&
        load_chain(view.get(), trailer.index_offset, limits, previous->index_offset,
                   &previous->slots)
            .ok()) {
      view->live_bytes = sum_lengths(view->slots);
      *out = std::move(view);
      return Status::OK();
    }
    view->slots.clear();
  }
  s = read_full(view.get(), limits);
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
  if (!info.is_regular) return Status::Corruption(path + ": not a regular file");
  s = check_trust(path, info, limits);
  if (!s.ok()) return s;
  std::unique_ptr<File> file;
  s = env->open_read(path, &file);
  if (!s.ok()) return s;
  return read_view(std::shared_ptr<File>(std::move(file)), limits, previous, out);
}

namespace {

// Appends ERASE records for least recently used entries until the live bytes
// after this save fit options.max_bytes.
Status evict_over_budget(const CommitOptions& options, const View& current, const Changes& changes,
                         uint64_t start, Appender* appender, std::vector<Slot>* delta,
                         CommitResult* result, Env* env) {
  std::vector<Slot> after = apply_slots(current.slots, *delta);
  uint64_t live = sum_lengths(after);
  if (live <= options.max_bytes) return Status::OK();
  order_for_eviction(
      &after, options, [](const Slot& s) { return s.key_hash; },
      [](const Slot& s) { return s.last_used_ns; });
  const int64_t now = env->now_nanos();
  for (const Slot& victim : after) {
    if (live <= options.max_bytes) break;
    std::string key;
    if (victim.offset >= start) {
      // Written by this very save: its key is in the changes.
      for (size_t i = 0; i < result->offsets.size(); ++i) {
        if (result->offsets[i] == victim.offset) key = key_of(changes.records[i]);
      }
    } else {
      Record record;
      if (!read_record(*current.file, victim.offset, victim.length, options.limits,
                       ReadMode::kHeaderOnly, &record)
               .ok()) {
        continue;
      }
      key = std::move(record.key);
    }
    std::string erase;
    format::append_record(&erase, RecordType::kErase, 0, key, {}, {}, 0, now);
    Status s = appender->append_owned(std::move(erase));
    if (!s.ok()) return s;
    delta->push_back({victim.key_hash, 0, 0, now});
    live -= victim.length;
    result->evicted.push_back(victim.key_hash);
  }
  return Status::OK();
}

}  // namespace

Status commit(Env* env, const std::string& path, const CommitOptions& options,
              const Changes& changes, const std::shared_ptr<const View>& known,
              CommitResult* result) {
  *result = CommitResult{};
  Status s = env->create_dirs(parent_dir(path), options.dir_mode);
  if (!s.ok()) return s.with_context(path);
  std::unique_ptr<FileLock> lock;
  s = env->lock(path + ".lock", options.file_mode, options.lock_timeout, &lock);
  if (!s.ok()) return s;

  FileInfo info;
  s = env->stat(path, false, &info);
  if (!s.ok() && !s.is_not_found()) return s;
  if (s.ok() && info.is_symlink) {
    return Status::PermissionDenied(path + ": is a symbolic link; refusing to write through it");
  }
  if (s.ok() && !info.is_regular) return Status::Corruption(path + ": not a regular file");
  if (s.ok()) {
    s = check_trust(path, info, options.limits);
    if (!s.ok()) return s;
  }

  if (s.is_not_found() || info.size == 0) {
    // A new file: written whole to a temp file and renamed into place.
    if (changes.records.empty() && !options.create_empty) {
      result->view = nullptr;
      return Status::OK();
    }
    // Over the size budget already: leave out the least recently used.
    std::vector<bool> skip(changes.records.size(), false);
    if (options.max_bytes > 0) {
      std::vector<size_t> order;
      uint64_t live = 0;
      for (size_t i = 0; i < changes.records.size(); ++i) {
        if (changes.records[i].erase) continue;
        order.push_back(i);
        live += changes.records[i].size();
      }
      order_for_eviction(
          &order, options, [&](size_t i) { return changes.records[i].key_hash; },
          [&](size_t i) { return changes.records[i].last_used_ns; });
      for (size_t i : order) {
        if (live <= options.max_bytes) break;
        skip[i] = true;
        live -= changes.records[i].size();
        result->evicted.push_back(changes.records[i].key_hash);
      }
    }
    NewFile nf;
    s = write_new_file(
        env, path, options, 1,
        [&](Appender* appender, std::vector<Slot>* slots) {
          for (size_t i = 0; i < changes.records.size(); ++i) {
            const EncodedRecord& r = changes.records[i];
            uint64_t pos = appender->position();
            result->offsets.push_back(pos);
            if (skip[i]) continue;
            if (!r.erase) slots->push_back({r.key_hash, pos, r.size(), r.last_used_ns});
            Status as = appender->append(r.head);
            if (as.ok()) as = appender->append(r.value());
            if (!as.ok()) return as;
          }
          return Status::OK();
        },
        &nf);
    if (!s.ok()) return s;
    result->view = view_of(nf, path);
    result->bytes_written = nf.size;
    result->created = true;
    return Status::OK();
  }

  // A writer that died mid-compaction leaves its temp file; we hold the lock,
  // so no temp file of this cache is in use.
  remove_stale_temps(env, path);
  std::unique_ptr<File> writable;
  s = env->open_write(path, &writable);
  if (!s.ok()) return s;
  std::shared_ptr<File> file(std::move(writable));
  std::shared_ptr<const View> current;
  s = read_view(file, options.limits, known && known->identity == info.identity ? known : nullptr,
                &current);
  if (!s.ok()) return s;

  std::vector<Slot> delta = current->unindexed;
  for (const Touch& t : changes.touches) {
    if (const Slot* slot = current->find(t.key_hash); slot && slot->last_used_ns < t.last_used_ns) {
      delta.push_back({t.key_hash, slot->offset, slot->length, t.last_used_ns});
    }
  }
  const uint64_t start = current->end;
  if (changes.records.empty() && delta.empty() && start == current->file_size &&
      !options.force_compaction) {
    result->view = current;  // nothing to write
    return Status::OK();
  }
  // A torn tail left by a writer that died is cut before appending; only
  // bytes that never verified are removed.
  if (current->file_size > start) {
    s = file->truncate(start);
    if (!s.ok()) return s;
  }
  Appender appender(*file, start);
  for (const EncodedRecord& r : changes.records) {
    uint64_t pos = appender.position();
    result->offsets.push_back(pos);
    delta.push_back({r.key_hash, r.erase ? 0 : pos, r.erase ? 0 : r.size(), r.last_used_ns});
    s = appender.append(r.head);
    if (s.ok()) s = appender.append(r.value());
    if (!s.ok()) break;
  }

  if (s.ok() && options.max_bytes > 0)
    s = evict_over_budget(options, *current, changes, start, &appender, &delta, result, env);
  // The new records must be durable before an index that points at them can
  // be: a crash that kept the index but not a record would otherwise lose the
  // key's older value too. Erasures and last-use times need no such order.
  const bool appended_values = std::any_of(changes.records.begin(), changes.records.end(),
                                           [](const EncodedRecord& r) { return !r.erase; });
  if (s.ok() && options.sync && appended_values) {
    s = appender.flush();
    if (s.ok()) s = file->sync();
  }
  std::vector<Slot> slots = apply_slots(current->slots, delta);
  IndexInfo info_out;
  const IndexInfo& prev = current->index_info;
  bool full = !current->has_index || prev.depth >= kMaxIndexDepth ||
              (prev.cum_delta_slots + delta.size()) * 4 > slots.size() + 1024;
  info_out.kind = full ? IndexKind::kFull : IndexKind::kDelta;
  info_out.depth = full ? 0 : prev.depth + 1;
  info_out.prev_index_offset = full ? 0 : current->index_offset;
  info_out.cum_delta_slots = full ? 0 : prev.cum_delta_slots + delta.size();
  info_out.generation = prev.generation + 1;
  info_out.saved_ns = env->now_nanos();
  uint64_t index_offset = 0;
  if (s.ok()) s = append_index(&appender, info_out, full ? slots : delta, &index_offset);
  if (s.ok()) s = appender.flush();
  if (s.ok() && options.sync) s = file->sync();
  if (!s.ok()) {
    // Nothing appended is referenced by a trailer at the end of the file, so
    // readers ignore it; cut it now (best effort) so it cannot be salvaged.
    (void)file->truncate(start);
    return s;
  }
  auto view = std::make_shared<View>();
  view->file = current->file;
  view->path = path;
  view->identity = current->identity;
  view->header = current->header;
  view->file_size = view->end =
      index_offset + format::index_record_length(full ? slots.size() : delta.size());
  view->slots = std::move(slots);
  view->live_bytes = sum_lengths(view->slots);
  view->has_index = true;
  view->index_offset = index_offset;
  view->index_length = view->file_size - index_offset;
  view->index_info = info_out;
  result->bytes_written = view->file_size - start;
  result->view = view;

  const uint64_t dead = view->dead_bytes();
  if (options.force_compaction ||
      (dead >= options.compaction_min_dead_bytes &&
       static_cast<double>(dead) >= options.compaction_dead_ratio * view->file_size)) {
    std::shared_ptr<const View> compacted;
    // The save itself is durable already; a failed compaction is retried by
    // a later save and reported to the caller for logging.
    result->compaction_status = compact_file_impl(env, path, options, *view, &compacted);
    if (result->compaction_status.ok()) {
      result->view = compacted;
      result->compacted = true;
    }
  }
  return Status::OK();
}

Status rewrite_file(Env* env, const std::string& path, const CommitOptions& options,
                    const View& source, std::shared_ptr<const View>* out) {
  return compact_file_impl(env, path, options, source, out);
}

uint64_t find_next_record(File& file, uint64_t from, uint64_t size, const Limits& limits) {
  constexpr size_t kChunk = 1u << 20;
  const char magic[4] = {'R', 'C', 'R', '1'};
  std::string chunk;
  for (uint64_t base = from + 1; base + kRecordHeaderSize <= size; base += kChunk) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk + 3, size - base));
    chunk.resize(n);
    size_t got = 0;
    if (!file.read_at(base, n, chunk.data(), &got).ok()) return 0;
    chunk.resize(got);
    for (size_t i = 0; i + 4 <= chunk.size() && i < kChunk; ++i) {
      if (std::memcmp(chunk.data() + i, magic, 4) != 0) continue;
      Record record;
      if (read_record(file, base + i, 0, limits, ReadMode::kHeaderOnly, &record).ok()) {
        return base + i;
      }
    }
  }
  return 0;
}

std::string build_image(Env* env, const std::vector<EncodedRecord>& records) {
  // No id, no times: the same entries give the same bytes.
  (void)env;
  std::string image = format::encode_file_header({format::kFormatVersion, 0, 0, 0});
  std::vector<Slot> slots;
  for (const EncodedRecord& r : records) {
    if (r.erase) continue;
    slots.push_back({r.key_hash, image.size(), r.size(), r.last_used_ns});
    image += r.head;
    image += r.value();
  }
  slots = apply_slots({}, std::move(slots));
  IndexInfo info;
  info.generation = 1;
  uint64_t pad = format::pad_before_index(image.size());
  if (pad) format::append_pad(&image, pad);
  std::string value = format::encode_index_value(info, slots, image.size());
  format::append_record(&image, RecordType::kIndex, 0, {}, {}, value, value.size(), info.saved_ns);
  // The image says how long it is, so that a reader of a stream can stop at
  // its end (and ignore what a longer earlier image left behind it).
  format::FileHeader header;
  Status ignored = format::decode_file_header(image, &header);
  (void)ignored;
  header.image_length = image.size();
  image.replace(0, format::kFileHeaderSize, format::encode_file_header(header));
  return image;
}

std::shared_ptr<File> memory_file(std::string name, std::string bytes) {
  return std::make_shared<MemoryFile>(std::move(name), std::move(bytes));
}

}  // namespace rtcache::store
