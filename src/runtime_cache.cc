// RuntimeCache: the in-memory side of a cache handle (an overlay of entries
// put, read or erased in this process over an immutable View of its file),
// its save/load paths, and its lifecycle.
#include "rtcache/runtime_cache.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <istream>
#include <iterator>
#include <mutex>
#include <ostream>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "checkpoint.h"
#include "codec.h"
#include "exit_registry.h"
#include "format.h"
#include "rtcache/env.h"
#include "rtcache/log.h"
#include "store.h"

namespace rtcache {
namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return format::hash_key(s); }
};

// One key as this handle knows it beyond (or instead of) the file's view.
struct Entry {
  Bytes value;
  std::string meta;
  int64_t created_ns = 0;
  std::atomic<int64_t> last_used_ns{0};
  int64_t persisted_last_used_ns = 0;  // what the file records
  uint64_t version = 0;                // bumped on every put/erase
  bool erased = false;                 // a tombstone
  bool dirty = false;                  // a put or erase not saved yet
  bool hidden = false;                 // damaged on disk: hidden locally, nothing to save

  Entry() = default;
  Entry(const Entry& o)
      : value(o.value),
        meta(o.meta),
        created_ns(o.created_ns),
        last_used_ns(o.last_used_ns.load()),
        persisted_last_used_ns(o.persisted_last_used_ns),
        version(o.version),
        erased(o.erased),
        dirty(o.dirty),
        hidden(o.hidden) {}
};

store::CommitOptions commit_options(const Options& o) {
  store::CommitOptions c;
  c.limits.max_value_bytes = o.max_value_bytes;
  c.limits.trust_others = o.trust_others;
  c.max_bytes = o.max_bytes;
  c.file_mode = o.file_mode;
  c.dir_mode = o.dir_mode;
  c.lock_timeout = o.lock_timeout;
  c.sync = o.sync;
  c.compaction_dead_ratio = o.compaction_dead_ratio;
  c.compaction_min_dead_bytes = o.compaction_min_dead_bytes;
  return c;
}

}  // namespace

struct RuntimeCache::State {
  Env* env = nullptr;
  store::Limits limits;

  mutable std::shared_mutex mu;  // guards overlay, view, next_version
  std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> overlay;
  std::shared_ptr<const store::View> view;  // the handle's own file, as last read
  uint64_t next_version = 1;

  std::mutex save_mu;  // one save of this handle at a time
  uint64_t exit_token = 0;
  std::mutex token_mu;

  std::atomic<uint64_t> hits{0}, misses{0}, puts{0}, erases{0}, bytes_loaded{0}, bytes_saved{0},
      saves{0}, save_failures{0}, compactions{0}, damaged{0}, evictions{0};

  // Whether `key` is live in the view (a hash match; the key is checked on read).
  bool in_view(std::string_view key) const {
    return view && view->find(format::hash_key(key)) != nullptr;
  }
};

namespace {

// Reads the record of every slot of `view` (that `want` accepts) in `mode`;
// a damaged one is counted, logged and skipped. Calls fn(slot, record).
template <typename Want, typename Fn>
void for_each_record(RuntimeCache::State& st, const store::View& view, store::ReadMode mode,
                     Want&& want, Fn&& fn) {
  for (const format::Slot& slot : view.slots) {
    if (!want(slot)) continue;
    store::Record record;
    Status s = store::read_record(*view.file, slot.offset, slot.length, st.limits, mode, &record);
    if (!s.ok()) {
      st.damaged.fetch_add(1, std::memory_order_relaxed);
      log(LogLevel::kWarning, s.message() + "; entry skipped");
      continue;
    }
    fn(slot, record);
  }
}

constexpr auto kEverySlot = [](const format::Slot&) { return true; };

// Encodes the value of a put as a record, compressing outside any lock.
store::EncodedRecord encode_put(const Options& options, std::string_view key, const Entry& e) {
  store::EncodedRecord r;
  r.key_hash = format::hash_key(key);
  r.last_used_ns = e.last_used_ns.load(std::memory_order_relaxed);
  Compression used =
      codec::encode(options.compression, options.compression_level, e.value.view(), &r.stored);
  if (used == Compression::kNone) r.shared = e.value;
  format::append_record_head(&r.head, format::RecordType::kPut, static_cast<uint8_t>(used), key,
                             e.meta, r.value(), e.value.size(), e.created_ns);
  return r;
}

// Runs fn(0..n-1), on several threads when there is enough compression work
// to pay for them: a save is bound by compression above a few hundred KB.
template <typename Fn>
void parallel_for(size_t n, uint64_t work_bytes, Fn&& fn) {
  constexpr uint64_t kBytesPerThread = 256u << 10;
  const size_t threads = std::min<size_t>({std::thread::hardware_concurrency(), 8, n,
                                           static_cast<size_t>(work_bytes / kBytesPerThread)});
  if (threads < 2) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

// A record copied as it is stored in a file (no re-encoding).
store::EncodedRecord stored_as_is(const format::Slot& slot, const std::string& key,
                                  std::string raw_record) {
  store::EncodedRecord r;
  r.key_hash = format::hash_key(key);  // the record's own key, whatever the index said
  r.last_used_ns = slot.last_used_ns;
  r.head = std::move(raw_record);
  return r;
}

store::EncodedRecord encode_erase(std::string_view key, int64_t now) {
  store::EncodedRecord r;
  r.key_hash = format::hash_key(key);
  r.erase = true;
  format::append_record(&r.head, format::RecordType::kErase, 0, key, {}, {}, 0, now);
  return r;
}

}  // namespace

// --- construction and lifecycle ------------------------------------------------

RuntimeCache::RuntimeCache(Options options)
    : options_(std::move(options)), owner_pid_(getpid()), state_(std::make_unique<State>()) {
  state_->env = options_.env ? options_.env : Env::default_env();
  state_->limits.max_value_bytes = options_.max_value_bytes;
  state_->limits.trust_others = options_.trust_others;
  if (options_.max_bytes == 0) {
    if (const char* budget = std::getenv("RTCACHE_MAX_SIZE"); budget && *budget) {
      if (!parse_byte_size(budget, &options_.max_bytes)) {
        log(LogLevel::kWarning, std::string("RTCACHE_MAX_SIZE=") + budget +
                                    " is not a size (e.g. 512M); no budget applied");
      }
    }
  }
}

std::shared_ptr<RuntimeCache> RuntimeCache::create(Options options) {
  bool autosave = options.autosave_on_del;
  std::shared_ptr<RuntimeCache> cache(new RuntimeCache(std::move(options)));
  if (autosave) cache->set_autosave_on_del(true);
  cache->start_checkpoints();
  return cache;
}

void RuntimeCache::start_checkpoints() {
  if (options_.checkpoint_interval.count() > 0 && !options_.path.empty()) {
    checkpoint_token_ = checkpoint::add(weak_from_this(), options_.checkpoint_interval);
  }
}

Status RuntimeCache::open(Options options, std::shared_ptr<RuntimeCache>* cache) {
  *cache = create(std::move(options));
  return (*cache)->load();
}

std::shared_ptr<RuntimeCache> RuntimeCache::implicit_for(const std::string& path) {
  struct Implicit {
    std::mutex mu;
    std::unordered_map<std::string, std::weak_ptr<RuntimeCache>> by_path;
  };
  static Implicit* implicit = new Implicit();  // never destroyed, like the exit registry
  std::error_code ec;
  std::string key =
      path.empty() ? path : std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) key = path;
  std::lock_guard<std::mutex> lock(implicit->mu);
  std::erase_if(implicit->by_path, [](const auto& kv) { return kv.second.expired(); });
  if (auto it = implicit->by_path.find(key); it != implicit->by_path.end()) {
    if (auto alive = it->second.lock()) return alive;
  }
  Options options;
  options.path = key;
  options.autosave_on_del = true;
  auto cache = create(std::move(options));
  Status s = cache->load();
  if (!s.ok()) log(LogLevel::kWarning, "loading " + s.message() + " failed; starting empty");
  implicit->by_path[key] = cache;
  return cache;
}

std::shared_ptr<RuntimeCache> RuntimeCache::clone() const {
  Options options = options_;
  options.autosave_on_del = false;  // registered below, once the state is copied
  std::shared_ptr<RuntimeCache> copy(new RuntimeCache(std::move(options)));
  {
    std::shared_lock lock(state_->mu);
    copy->state_->overlay = state_->overlay;
    copy->state_->view = state_->view;
    copy->state_->next_version = state_->next_version;
  }
  copy->options_.autosave_on_del = options_.autosave_on_del;
  if (autosave_.load()) copy->set_autosave_on_del(true);
  copy->start_checkpoints();
  return copy;
}

RuntimeCache::~RuntimeCache() {
  if (checkpoint_token_ != 0) checkpoint::remove(checkpoint_token_);
  autosave_now();
  unregister_exit_hook();
}

void RuntimeCache::set_autosave_on_del(bool on) {
  autosave_.store(on);
  if (on) {
    register_exit_hook();
  } else {
    unregister_exit_hook();
  }
}

void RuntimeCache::register_exit_hook() {
  std::lock_guard<std::mutex> lock(state_->token_mu);
  if (state_->exit_token != 0) return;
  // During construction through create() no shared_ptr exists yet for
  // weak_from_this() only inside the constructor; create() calls us after.
  state_->exit_token = exit_registry::add(weak_from_this());
}

void RuntimeCache::unregister_exit_hook() {
  std::lock_guard<std::mutex> lock(state_->token_mu);
  if (state_->exit_token == 0) return;
  exit_registry::remove(state_->exit_token);
  state_->exit_token = 0;
}

uint64_t RuntimeCache::exit_token() const {
  std::lock_guard<std::mutex> lock(state_->token_mu);
  return state_->exit_token;
}

bool RuntimeCache::autosave_now() noexcept {
  // Only the process that created the handle saves it (not a forked child),
  // and only once: whoever flips the flag first saves.
  if (getpid() != owner_pid_ || !autosave_.exchange(false)) return false;
  try {
    unregister_exit_hook();  // autosave is off now: nothing left for the hook to do
    Status s = save();
    if (!s.ok())
      log(LogLevel::kWarning, "autosave of " + options_.path + " failed: " + s.to_string());
  } catch (const std::exception& e) {
    log(LogLevel::kWarning, "autosave of " + options_.path + " failed: " + e.what());
  } catch (...) {
    log(LogLevel::kWarning, "autosave of " + options_.path + " failed");
  }
  return true;
}

// --- entries --------------------------------------------------------------------

Status RuntimeCache::get(std::string_view key, Bytes* value, std::string* metadata) {
  State& st = *state_;
  std::shared_ptr<const store::View> view;
  format::Slot slot;
  {
    std::shared_lock lock(st.mu);
    if (auto it = st.overlay.find(key); it != st.overlay.end()) {
      const Entry& e = it->second;
      if (e.erased) {
        st.misses.fetch_add(1, std::memory_order_relaxed);
        return Status::NotFound();
      }
      it->second.last_used_ns.store(st.env->now_nanos(), std::memory_order_relaxed);
      *value = e.value;
      if (metadata) *metadata = e.meta;
      st.hits.fetch_add(1, std::memory_order_relaxed);
      return Status::OK();
    }
    const format::Slot* found = st.view ? st.view->find(format::hash_key(key)) : nullptr;
    if (found == nullptr) {
      st.misses.fetch_add(1, std::memory_order_relaxed);
      return Status::NotFound();
    }
    view = st.view;
    slot = *found;
  }
  // Read and verify the record without holding the lock.
  store::Record record;
  Status s = store::read_record(*view->file, slot.offset, slot.length, st.limits,
                                store::ReadMode::kValue, &record);
  if (s.ok() && record.key != key) {
    st.misses.fetch_add(1, std::memory_order_relaxed);  // another key with the same hash
    return Status::NotFound();
  }
  std::unique_lock lock(st.mu);
  auto [it, inserted] = st.overlay.try_emplace(std::string(key));
  Entry& e = it->second;
  if (!inserted) {
    // Another thread put, erased or read it meanwhile; its state wins.
    lock.unlock();
    return get(key, value, metadata);
  }
  if (!s.ok()) {
    e.erased = e.hidden = true;
    st.damaged.fetch_add(1, std::memory_order_relaxed);
    st.misses.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    log(LogLevel::kWarning, s.message() + "; entry skipped");
    return s;
  }
  e.value = record.value;
  e.meta = std::move(record.meta);
  e.created_ns = record.header.timestamp_ns;
  e.persisted_last_used_ns = slot.last_used_ns;
  e.last_used_ns.store(st.env->now_nanos(), std::memory_order_relaxed);
  *value = e.value;
  if (metadata) *metadata = e.meta;
  st.hits.fetch_add(1, std::memory_order_relaxed);
  st.bytes_loaded.fetch_add(slot.length, std::memory_order_relaxed);
  return Status::OK();
}

bool RuntimeCache::contains(std::string_view key) {
  std::shared_lock lock(state_->mu);
  if (auto it = state_->overlay.find(key); it != state_->overlay.end()) return !it->second.erased;
  return state_->in_view(key);
}

void RuntimeCache::put(std::string_view key, Bytes value, std::string_view metadata) {
  State& st = *state_;
  const int64_t now = st.env->now_nanos();
  std::unique_lock lock(st.mu);
  Entry& e = st.overlay[std::string(key)];
  e.value = std::move(value);
  e.meta.assign(metadata);
  e.created_ns = now;
  e.last_used_ns.store(now, std::memory_order_relaxed);
  e.erased = e.hidden = false;
  e.dirty = true;
  e.version = st.next_version++;
  st.puts.fetch_add(1, std::memory_order_relaxed);
}

bool RuntimeCache::erase(std::string_view key) {
  State& st = *state_;
  std::unique_lock lock(st.mu);
  auto it = st.overlay.find(key);
  bool existed = it != st.overlay.end() ? !it->second.erased : st.in_view(key);
  if (it == st.overlay.end()) it = st.overlay.try_emplace(std::string(key)).first;
  Entry& e = it->second;
  e.value = Bytes();
  e.meta.clear();
  e.erased = true;
  e.hidden = false;
  e.dirty = true;
  e.version = st.next_version++;
  if (existed) st.erases.fetch_add(1, std::memory_order_relaxed);
  return existed;
}

void RuntimeCache::reset() {
  State& st = *state_;
  std::shared_ptr<const store::View> view;
  {
    std::shared_lock lock(st.mu);
    view = st.view;
  }
  // The keys in the file are only known by hash in memory; read them.
  std::vector<std::string> keys;
  if (view) {
    for_each_record(
        st, *view, store::ReadMode::kHeaderOnly, kEverySlot,
        [&](const format::Slot&, store::Record& r) { keys.push_back(std::move(r.key)); });
  }
  std::unique_lock lock(st.mu);
  for (auto& [key, e] : st.overlay) {
    if (!e.erased) keys.push_back(key);
  }
  lock.unlock();
  for (const std::string& key : keys) erase(key);
}

bool RuntimeCache::has_unsaved_changes() const {
  std::shared_lock lock(state_->mu);
  for (const auto& [key, e] : state_->overlay) {
    if (e.dirty) return true;
  }
  return false;
}

size_t RuntimeCache::size() const {
  std::shared_lock lock(state_->mu);
  size_t count = state_->view ? state_->view->slots.size() : 0;
  for (const auto& [key, e] : state_->overlay) {
    bool in_view = state_->in_view(key);
    if (e.erased && in_view) --count;
    if (!e.erased && !in_view) ++count;
  }
  return count;
}

CacheStats RuntimeCache::stats() const {
  const State& st = *state_;
  CacheStats s;
  s.hits = st.hits.load();
  s.misses = st.misses.load();
  s.puts = st.puts.load();
  s.erases = st.erases.load();
  s.bytes_loaded = st.bytes_loaded.load();
  s.bytes_saved = st.bytes_saved.load();
  s.saves = st.saves.load();
  s.save_failures = st.save_failures.load();
  s.compactions = st.compactions.load();
  s.damaged_records = st.damaged.load();
  s.evictions = st.evictions.load();
  std::shared_lock lock(st.mu);
  s.entries = st.view ? st.view->slots.size() : 0;
  s.live_bytes = st.view ? st.view->live_bytes : 0;
  for (const auto& [key, e] : st.overlay) {
    const format::Slot* slot = st.view ? st.view->find(format::hash_key(key)) : nullptr;
    if (slot && (e.erased || e.dirty)) {
      --s.entries;
      s.live_bytes -= slot->length;
    }
    if (!e.erased && (e.dirty || !slot)) {
      ++s.entries;
      s.live_bytes += e.value.size();
    }
  }
  return s;
}

Status RuntimeCache::entries(std::vector<EntryInfo>* out) {
  State& st = *state_;
  out->clear();
  std::shared_ptr<const store::View> view;
  {
    std::shared_lock lock(st.mu);
    view = st.view;
    for (const auto& [key, e] : st.overlay) {
      if (e.erased) continue;
      const format::Slot* slot = view ? view->find(format::hash_key(key)) : nullptr;
      EntryInfo info;
      info.key = key;
      info.value_size = e.value.size();
      info.stored_size = (!e.dirty && slot) ? slot->length : 0;
      info.created_ns = e.created_ns;
      info.last_used_ns = e.last_used_ns.load(std::memory_order_relaxed);
      info.metadata = e.meta;
      info.encoding = Compression::kNone;
      out->push_back(std::move(info));
    }
  }
  if (view) {
    for_each_record(st, *view, store::ReadMode::kHeaderOnly, kEverySlot,
                    [&](const format::Slot& slot, store::Record& record) {
                      {
                        std::shared_lock lock(st.mu);
                        if (auto it = st.overlay.find(record.key); it != st.overlay.end()) {
                          if (!it->second.erased && !it->second.dirty) {
                            // Listed from memory above; take the file's facts about its encoding.
                            for (EntryInfo& info : *out) {
                              if (info.key == record.key)
                                info.encoding = static_cast<Compression>(record.header.encoding);
                            }
                          }
                          return;
                        }
                      }
                      EntryInfo info;
                      info.key = std::move(record.key);
                      info.value_size = record.header.raw_len;
                      info.stored_size = slot.length;
                      info.created_ns = record.header.timestamp_ns;
                      info.last_used_ns = slot.last_used_ns;
                      info.metadata = std::move(record.meta);
                      info.encoding = static_cast<Compression>(record.header.encoding);
                      out->push_back(std::move(info));
                    });
  }
  std::sort(out->begin(), out->end(),
            [](const EntryInfo& a, const EntryInfo& b) { return a.key < b.key; });
  return Status::OK();
}

// --- portable bytes and streams ------------------------------------------------------

namespace {

// Every live entry of a handle as records ready to write: entries in memory
// are encoded, entries only in the file are copied as stored (verified).
struct Collected {
  std::string key;
  store::EncodedRecord record;
};

}  // namespace

Status RuntimeCache::serialize(std::string* out) {
  State& st = *state_;
  std::vector<std::pair<std::string, Entry>> in_memory;
  std::shared_ptr<const store::View> view;
  {
    std::shared_lock lock(st.mu);
    view = st.view;
    for (const auto& [key, e] : st.overlay) {
      if (!e.erased) in_memory.emplace_back(key, e);
    }
  }
  std::vector<Collected> all;
  for (const auto& [key, e] : in_memory) all.push_back({key, encode_put(options_, key, e)});
  if (view) {
    for_each_record(st, *view, store::ReadMode::kValueAndRaw, kEverySlot,
                    [&](const format::Slot& slot, store::Record& record) {
                      {
                        std::shared_lock lock(st.mu);
                        if (st.overlay.count(record.key)) return;  // memory wins (taken above)
                      }
                      // The record is built before its key is moved out.
                      store::EncodedRecord r =
                          stored_as_is(slot, record.key, std::move(record.raw));
                      all.push_back({std::move(record.key), std::move(r)});
                    });
  }
  std::sort(all.begin(), all.end(),
            [](const Collected& a, const Collected& b) { return a.key < b.key; });
  std::vector<store::EncodedRecord> records;
  records.reserve(all.size());
  for (auto& c : all) records.push_back(std::move(c.record));
  *out = store::build_image(st.env, records);
  return Status::OK();
}

Status RuntimeCache::deserialize(std::string_view bytes) {
  if (bytes.empty()) return Status::OK();
  State& st = *state_;
  const std::string name = "serialized cache";
  format::FileHeader header;
  Status hs = format::decode_file_header(bytes.substr(0, format::kFileHeaderSize), &header);
  if (!hs.ok()) return hs.with_context(name);
  if (header.image_length != 0) {
    if (bytes.size() < header.image_length) {
      return Status::Corruption(name + ": truncated (" + std::to_string(bytes.size()) + " of " +
                                std::to_string(header.image_length) + " bytes)");
    }
    bytes = bytes.substr(0, header.image_length);  // bytes after the image are not part of it
  }
  std::shared_ptr<const store::View> view;
  Status s =
      store::read_view(store::memory_file(name, std::string(bytes)), st.limits, nullptr, &view);
  if (!s.ok()) return s;
  if (!view->has_index || view->end != view->file_size || !view->unindexed.empty() ||
      view->damaged_records != 0) {
    return Status::Corruption(name + ": truncated or damaged (no complete index at its end)");
  }
  // Verify everything before changing anything.
  std::vector<store::Record> records(view->slots.size());
  for (size_t i = 0; i < view->slots.size(); ++i) {
    const format::Slot& slot = view->slots[i];
    s = store::read_record(*view->file, slot.offset, slot.length, st.limits,
                           store::ReadMode::kValue, &records[i]);
    if (!s.ok()) return s;
    if (format::hash_key(records[i].key) != slot.key_hash) {
      return Status::Corruption(name + ": index does not match record at offset " +
                                std::to_string(slot.offset));
    }
  }
  std::unique_lock lock(st.mu);
  for (size_t i = 0; i < records.size(); ++i) {
    Entry& e = st.overlay[records[i].key];
    e.value = records[i].value;
    e.meta = std::move(records[i].meta);
    e.created_ns = records[i].header.timestamp_ns;
    e.last_used_ns.store(view->slots[i].last_used_ns, std::memory_order_relaxed);
    e.erased = e.hidden = false;
    e.dirty = true;
    e.version = st.next_version++;
  }
  st.bytes_loaded.fetch_add(bytes.size(), std::memory_order_relaxed);
  return Status::OK();
}

Status RuntimeCache::save_to_stream(std::ostream& stream, size_t* bytes_written) {
  if (bytes_written) *bytes_written = 0;
  std::string bytes;
  Status s = serialize(&bytes);
  if (!s.ok()) return s;
  stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  stream.flush();
  if (!stream.good()) return Status::IOError("stream: write failed");
  if (bytes_written) *bytes_written = bytes.size();
  state_->bytes_saved.fetch_add(bytes.size(), std::memory_order_relaxed);
  return Status::OK();
}

Status RuntimeCache::load_from_stream(std::istream& stream, size_t* bytes_read) {
  if (bytes_read) *bytes_read = 0;
  // Read the header first: an image says how long it is, so exactly one image
  // is consumed; anything else is read to the end of the stream.
  std::string bytes(format::kFileHeaderSize, '\0');
  stream.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<size_t>(stream.gcount()));
  format::FileHeader header;
  if (bytes.size() == format::kFileHeaderSize && format::decode_file_header(bytes, &header).ok() &&
      header.image_length > bytes.size()) {
    // In chunks, so a damaged length cannot make us allocate more than the
    // stream really holds.
    std::string chunk;
    while (bytes.size() < header.image_length && stream) {
      chunk.resize(std::min<uint64_t>(header.image_length - bytes.size(), 1u << 20));
      stream.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      bytes.append(chunk, 0, static_cast<size_t>(stream.gcount()));
    }
  } else if (stream) {
    bytes.append(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
  }
  if (stream.bad()) return Status::IOError("stream: read failed");
  Status s = deserialize(bytes);
  if (s.ok() && bytes_read) *bytes_read = bytes.size();
  return s;
}

// --- files --------------------------------------------------------------------------

Status RuntimeCache::load(const std::string& path) {
  State& st = *state_;
  const std::string& target = path.empty() ? options_.path : path;
  if (target.empty()) return Status::OK();
  if (target == options_.path) {
    std::shared_ptr<const store::View> previous, view;
    {
      std::shared_lock lock(st.mu);
      previous = st.view;
    }
    Status s = store::open_view(st.env, target, st.limits, previous, &view);
    if (s.is_not_found()) return Status::OK();  // first run
    if (!s.ok()) return s;
    if (view != previous) {
      st.bytes_loaded.fetch_add(view->index_length, std::memory_order_relaxed);
      if (view->damaged_records) {
        st.damaged.fetch_add(view->damaged_records, std::memory_order_relaxed);
        log(LogLevel::kWarning,
            target + ": " + std::to_string(view->damaged_records) + " damaged record(s) skipped");
      }
    }
    std::unique_lock lock(st.mu);
    st.view = std::move(view);
    return Status::OK();
  }
  // Another file: its entries are merged in as unsaved puts.
  std::shared_ptr<const store::View> view;
  Status s = store::open_view(st.env, target, st.limits, nullptr, &view);
  if (s.is_not_found()) return Status::OK();
  if (!s.ok()) return s;
  std::vector<std::pair<store::Record, int64_t>> records;  // with its last use
  for_each_record(st, *view, store::ReadMode::kValue, kEverySlot,
                  [&](const format::Slot& slot, store::Record& record) {
                    st.bytes_loaded.fetch_add(slot.length, std::memory_order_relaxed);
                    records.emplace_back(std::move(record), slot.last_used_ns);
                  });
  std::unique_lock lock(st.mu);
  for (auto& [r, last_used] : records) {
    Entry& e = st.overlay[r.key];
    if (e.dirty && !e.erased) continue;  // this handle's own change wins
    e.value = r.value;
    e.meta = std::move(r.meta);
    e.created_ns = r.header.timestamp_ns;
    e.last_used_ns.store(last_used, std::memory_order_relaxed);
    e.erased = e.hidden = false;
    e.dirty = true;
    e.version = st.next_version++;
  }
  return Status::OK();
}

Status RuntimeCache::save(const std::string& path) {
  State& st = *state_;
  const std::string& target = path.empty() ? options_.path : path;
  if (target.empty()) return Status::OK();
  std::lock_guard<std::mutex> save_lock(st.save_mu);
  if (target != options_.path) return save_other(target);

  // Snapshot what changed; encode it without holding the handle's lock.
  struct Snap {
    std::string key;
    uint64_t version;
    bool erase;
  };
  std::vector<Snap> snaps;
  std::vector<std::pair<std::string, Entry>> puts;
  std::vector<std::pair<std::string, int64_t>> touched;
  store::Changes changes;
  std::shared_ptr<const store::View> known;
  const int64_t resolution_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.last_use_resolution).count();
  {
    std::shared_lock lock(st.mu);
    known = st.view;
    for (const auto& [key, e] : st.overlay) {
      if (e.dirty) {
        snaps.push_back({key, e.version, e.erased});
        if (!e.erased) puts.emplace_back(key, e);
      } else if (!e.erased) {
        int64_t used = e.last_used_ns.load(std::memory_order_relaxed);
        if (used - e.persisted_last_used_ns >= resolution_ns && used > e.persisted_last_used_ns) {
          touched.emplace_back(key, used);
          changes.touches.push_back({format::hash_key(key), used});
        }
      }
    }
  }
  if (snaps.empty() && touched.empty()) return Status::OK();
  const int64_t now = st.env->now_nanos();
  changes.records.resize(snaps.size());
  std::vector<std::pair<size_t, size_t>> put_jobs;  // (record, puts index)
  for (size_t i = 0, p = 0; i < snaps.size(); ++i) {
    if (snaps[i].erase) {
      changes.records[i] = encode_erase(snaps[i].key, now);
    } else {
      put_jobs.emplace_back(i, p++);
    }
  }
  uint64_t compress_bytes = 0;
  if (options_.compression != Compression::kNone) {
    for (const auto& [key, e] : puts) compress_bytes += e.value.size();
  }
  parallel_for(put_jobs.size(), compress_bytes, [&](size_t j) {
    auto [record, p] = put_jobs[j];
    changes.records[record] = encode_put(options_, puts[p].first, puts[p].second);
  });

  store::CommitOptions commit = commit_options(options_);
  if (commit.max_bytes > 0) {
    // Entries this process has used or added are evicted last.
    std::shared_lock lock(st.mu);
    for (const auto& [key, e] : st.overlay) {
      if (!e.erased) commit.in_use.push_back(format::hash_key(key));
    }
    std::sort(commit.in_use.begin(), commit.in_use.end());
  }
  store::CommitResult result;
  Status s = store::commit(st.env, target, commit, changes, known, &result);
  if (!s.ok()) {
    st.save_failures.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  st.evictions.fetch_add(result.evicted.size(), std::memory_order_relaxed);
  if (!result.compaction_status.ok()) {
    log(LogLevel::kWarning,
        "compaction failed (will retry): " + result.compaction_status.message());
  }
  std::unique_lock lock(st.mu);
  if (result.view) st.view = result.view;
  for (size_t i = 0; i < snaps.size(); ++i) {
    auto it = st.overlay.find(snaps[i].key);
    if (it == st.overlay.end() || it->second.version != snaps[i].version) continue;
    if (snaps[i].erase) {
      st.overlay.erase(it);
    } else {
      it->second.dirty = false;
      it->second.persisted_last_used_ns = changes.records[i].last_used_ns;
    }
  }
  for (const auto& [key, used] : touched) {
    if (auto it = st.overlay.find(key); it != st.overlay.end()) {
      it->second.persisted_last_used_ns = std::max(it->second.persisted_last_used_ns, used);
    }
  }
  lock.unlock();
  st.saves.fetch_add(1, std::memory_order_relaxed);
  st.bytes_saved.fetch_add(result.bytes_written, std::memory_order_relaxed);
  if (result.compacted) st.compactions.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

Status RuntimeCache::save_other(const std::string& target) {
  State& st = *state_;
  std::shared_ptr<const store::View> theirs;
  Status s = store::open_view(st.env, target, st.limits, nullptr, &theirs);
  if (!s.ok() && !s.is_not_found()) return s;
  auto they_have = [&](uint64_t hash) { return theirs && theirs->find(hash) != nullptr; };

  store::Changes changes;
  std::vector<std::pair<std::string, Entry>> in_memory;
  std::shared_ptr<const store::View> mine;
  {
    std::shared_lock lock(st.mu);
    mine = st.view;
    for (const auto& [key, e] : st.overlay) in_memory.emplace_back(key, e);
  }
  std::unordered_map<std::string, bool, StringHash, std::equal_to<>> overridden;
  for (const auto& [key, e] : in_memory) {
    overridden.emplace(key, true);
    if (e.erased) continue;
    if (e.dirty || !they_have(format::hash_key(key))) {
      changes.records.push_back(encode_put(options_, key, e));
    }
  }
  if (mine) {
    for_each_record(
        st, *mine, store::ReadMode::kValueAndRaw,
        [&](const format::Slot& slot) { return !they_have(slot.key_hash); },
        [&](const format::Slot& slot, store::Record& record) {
          if (!overridden.count(record.key)) {
            changes.records.push_back(stored_as_is(slot, record.key, std::move(record.raw)));
          }
        });
  }
  if (changes.empty()) return Status::OK();
  store::CommitResult result;
  s = store::commit(st.env, target, commit_options(options_), changes, theirs, &result);
  if (!s.ok()) {
    st.save_failures.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  st.saves.fetch_add(1, std::memory_order_relaxed);
  st.bytes_saved.fetch_add(result.bytes_written, std::memory_order_relaxed);
  return Status::OK();
}

Status RuntimeCache::compact() {
  State& st = *state_;
  if (options_.path.empty()) return Status::OK();
  std::lock_guard<std::mutex> save_lock(st.save_mu);
  std::shared_ptr<const store::View> known;
  {
    std::shared_lock lock(st.mu);
    known = st.view;
  }
  FileInfo info;
  if (st.env->stat(options_.path, true, &info).is_not_found()) return Status::OK();
  store::CommitOptions options = commit_options(options_);
  options.force_compaction = true;
  store::CommitResult result;
  Status s = store::commit(st.env, options_.path, options, {}, known, &result);
  if (!s.ok()) return s;
  if (!result.compaction_status.ok()) return result.compaction_status;
  std::unique_lock lock(st.mu);
  if (result.view) st.view = result.view;
  st.compactions.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

size_t exit_registry_size() {
  return exit_registry::size();
}

}  // namespace rtcache
