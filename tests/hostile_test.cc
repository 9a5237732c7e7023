// Damaged and hostile files: every truncation length and every single-bit
// flip of a small real file, and handcrafted files with absurd lengths,
// counts and offsets, huge declared sizes, overlapping records, index slots
// pointing anywhere, broken index chains and zstd decompression bombs. Each is
// rejected or salvaged record by record, with bounded memory, and never
// crashes or hangs; a value is either exact or not served. verify_file and
// repair_file run on each too.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rtcache/rtcache.h"
#include "storage/format.h"
#include "test_util.h"

namespace rtcache {
namespace {

using format::RecordType;
using format::Slot;
using testing::MakeValue;
using testing::TempDir;

using State = std::map<std::string, std::string>;

long MaxRssKb() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

using testing::load_u32;
using testing::load_u64;
using testing::store_u32;
using testing::store_u64;

// Recomputes the header checksum of the record at `at` (after a test changed
// its fields), so that the change is not caught by the checksum but by the
// bounds checks behind it. With `value_too`, also the value checksum (the
// whole value must be present).
void Reseal(std::string* s, size_t at, bool value_too = false) {
  const uint32_t key_len = load_u32(*s, at + 8), meta_len = load_u32(*s, at + 12);
  if (value_too) {
    const uint64_t value_len = load_u64(*s, at + 16);
    size_t value_at = at + 56 + key_len + meta_len;
    store_u64(s, at + 40, XXH3_64bits(s->data() + value_at, value_len));
  }
  uint64_t seed = XXH3_64bits(s->data() + at, 48);
  store_u64(s, at + 48, XXH3_64bits_withSeed(s->data() + at + 56, key_len + meta_len, seed));
}

// Serves one file image from memory (the bit-flip and truncation loops open
// tens of thousands of variants; this keeps them off the disk). Everything
// else goes to the real file system.
class ImageFile final : public File {
 public:
  ImageFile(std::string path, std::shared_ptr<const std::string> bytes)
      : path_(std::move(path)), bytes_(std::move(bytes)) {}
  Status read_at(uint64_t offset, size_t n, char* dst, size_t* got) override {
    *got = offset >= bytes_->size() ? 0 : std::min<uint64_t>(n, bytes_->size() - offset);
    if (*got) std::memcpy(dst, bytes_->data() + offset, *got);
    return Status::OK();
  }
  Status write_at(uint64_t, std::string_view) override { return Status::NotSupported("ro"); }
  Status sync() override { return Status::NotSupported("ro"); }
  Status truncate(uint64_t) override { return Status::NotSupported("ro"); }
  Status stat(FileInfo* info) override {
    *info = FileInfo{};
    info->size = bytes_->size();
    info->is_regular = true;
    return Status::OK();
  }
  Status set_mode(uint32_t) override { return Status::NotSupported("ro"); }
  Status close() override { return Status::OK(); }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  std::shared_ptr<const std::string> bytes_;
};

class ImageEnv final : public EnvWrapper {
 public:
  ImageEnv() : EnvWrapper(Env::default_env()) {}
  void set(const std::string& path, std::string bytes) {
    path_ = path;
    bytes_ = std::make_shared<const std::string>(std::move(bytes));
    ++generation_;
  }
  Status open_read(const std::string& p, std::unique_ptr<File>* f) override {
    if (p != path_) return target()->open_read(p, f);
    *f = std::make_unique<ImageFile>(p, bytes_);
    return Status::OK();
  }
  Status stat(const std::string& p, bool follow, FileInfo* info) override {
    if (p != path_) return target()->stat(p, follow, info);
    *info = FileInfo{};
    info->identity = {1, generation_};
    info->size = bytes_->size();
    info->mode = 0100600;
    info->owner_uid = static_cast<uint32_t>(::geteuid());
    info->is_regular = true;
    return Status::OK();
  }

 private:
  std::string path_;
  std::shared_ptr<const std::string> bytes_;
  uint64_t generation_ = 0;
};

// Builds files record by record with the layout of docs/format.md.
struct FileBuilder {
  FileBuilder() {
    format::FileHeader header;
    header.file_id = 42;
    header.created_ns = 1'000'000;
    bytes = format::encode_file_header(header);
  }
  std::string bytes;
  std::vector<Slot> live;  // sorted by nothing; apply_slots-like handling below

  uint64_t Put(const std::string& key, const std::string& value, int64_t ts = 5) {
    uint64_t at = bytes.size();
    format::append_record(&bytes, RecordType::kPut, 0, key, "meta", value, value.size(), ts);
    SetSlot(key, at, bytes.size() - at);
    return at;
  }
  uint64_t PutZstd(const std::string& key, const std::string& frame, uint64_t raw_len) {
    uint64_t at = bytes.size();
    format::append_record(&bytes, RecordType::kPut, 1, key, "meta", frame, raw_len, 5);
    SetSlot(key, at, bytes.size() - at);
    return at;
  }
  uint64_t Erase(const std::string& key) {
    uint64_t at = bytes.size();
    format::append_record(&bytes, RecordType::kErase, 0, key, {}, {}, 0, 6);
    SetSlot(key, 0, 0);
    return at;
  }
  void SetSlot(const std::string& key, uint64_t offset, uint64_t length) {
    uint64_t h = format::hash_key(key);
    std::erase_if(live, [&](const Slot& s) { return s.key_hash == h; });
    if (offset) live.push_back({h, offset, length, 7});
  }
  std::vector<Slot> Sorted() const {
    std::vector<Slot> out = live;
    std::sort(out.begin(), out.end(),
              [](const Slot& a, const Slot& b) { return a.key_hash < b.key_hash; });
    return out;
  }
  // Pads to the next 4096 boundary and appends an index of `slots`.
  uint64_t Index(const std::vector<Slot>& slots, format::IndexKind kind = format::IndexKind::kFull,
                 uint64_t prev = 0, uint32_t depth = 0) {
    uint64_t pad = format::pad_before_index(bytes.size());
    if (pad) format::append_pad(&bytes, pad);
    uint64_t at = bytes.size();
    format::IndexInfo info;
    info.kind = kind;
    info.depth = depth;
    info.prev_index_offset = prev;
    info.generation = 1;
    info.saved_ns = 9;
    std::string value = format::encode_index_value(info, slots, at);
    format::append_record(&bytes, RecordType::kIndex, 0, {}, {}, value, value.size(), 9);
    return at;
  }
  uint64_t Index() { return Index(Sorted()); }
};

// What a hostile file did to the reader.
struct Outcome {
  Status open;
  size_t listed = 0;
  size_t served = 0;  // values handed out
  std::set<std::string> served_keys;
  std::vector<std::string> wrong;  // served values that are not what `expected` allows
  Status verify;
  bool verify_found_damage = false;
  Status repair;
  Status roundtrip;  // deserialize() of what serialize() made
};

// Opens `path`, lists and reads every entry (and `probe_keys`), serializes,
// inspects, verifies, and (with `repair`) repairs and re-verifies. A served
// value must be one of expected[key] (any version the key ever had).
Outcome Exercise(const std::string& path,
                 const std::map<std::string, std::set<std::string>>& expected,
                 const std::vector<std::string>& probe_keys, bool repair, Options options = {}) {
  Outcome out;
  options.path = path;
  auto check_value = [&](const std::string& key, const Bytes& value) {
    ++out.served;
    out.served_keys.insert(key);
    auto it = expected.find(key);
    if (it == expected.end() || !it->second.count(value.str())) out.wrong.push_back(key);
  };
  {
    std::shared_ptr<RuntimeCache> cache;
    out.open = RuntimeCache::open(options, &cache);
    if (out.open.ok()) {
      std::vector<EntryInfo> entries;
      if (cache->entries(&entries).ok()) {
        out.listed = entries.size();
        for (const EntryInfo& e : entries) {
          Bytes value;
          if (cache->get(e.key, &value).ok()) check_value(e.key, value);
        }
      }
      for (const std::string& key : probe_keys) {
        Bytes value;
        if (cache->get(key, &value).ok()) check_value(key, value);
        (void)cache->contains(key);
      }
      (void)cache->stats();
      std::string image;
      if (cache->serialize(&image).ok()) {
        auto copy = RuntimeCache::create();
        out.roundtrip = copy->deserialize(image);
      }
    }
  }
  FileReport file_report;
  (void)inspect_file(path, &file_report, options);
  VerifyReport report;
  out.verify = verify_file(path, &report, options);
  out.verify_found_damage = !out.verify.ok() || !report.ok();
  if (repair) {
    Options repair_options = options;
    repair_options.sync = false;
    RepairReport repaired;
    out.repair = repair_file(path, &repaired, repair_options);
    if (out.repair.ok()) {
      VerifyReport after;
      Status vs = verify_file(path, &after, options);
      EXPECT_TRUE(vs.ok() && after.ok()) << "a repaired file must verify: " << vs.to_string();
      Outcome reread = Exercise(path, expected, probe_keys, false, options);
      EXPECT_OK(reread.open);
      for (const auto& k : reread.wrong) out.wrong.push_back("after repair: " + k);
    }
  }
  return out;
}

// --- a small real file ----------------------------------------------------------------------

struct RealFile {
  std::string bytes;
  std::map<std::string, std::set<std::string>> versions;  // every value a key ever had
  std::set<std::string> keys;
  State final_state;
};

// Two saves: the first puts five keys (compressed and raw values), the second
// overwrites one, erases one and adds one; so the file has a full index and a
// delta index.
RealFile MakeRealFile(const TempDir& dir) {
  RealFile f;
  const std::string path = dir.file("real.rtc");
  Options options;
  options.path = path;
  auto cache = RuntimeCache::create(options);
  auto put = [&](const std::string& key, const std::string& value) {
    cache->put(key, value, "sm_90");
    f.versions[key].insert(value);
    f.keys.insert(key);
    f.final_state[key] = value;
  };
  put("k0", MakeValue("k0", 1));
  put("k1", MakeValue("k1", 1));
  put("k2", "tiny-raw-value");
  put("k3", std::string(300, 'z'));
  put("k4", MakeValue("k4", 1));
  EXPECT_OK(cache->save());
  put("k0", MakeValue("k0", 2));
  cache->erase("k1");
  f.final_state.erase("k1");
  put("k5", MakeValue("k5", 1));
  EXPECT_OK(cache->save());
  f.bytes = testing::read_file(path);
  return f;
}

// The records of an intact file, in order: offset, length, type, key, value.
struct Walked {
  uint64_t offset, length;
  RecordType type;
  std::string key;
  std::string value;
};
std::vector<Walked> WalkRecords(const std::string& bytes) {
  std::vector<Walked> out;
  uint64_t pos = format::kFileHeaderSize;
  while (pos + format::kRecordHeaderSize <= bytes.size()) {
    format::RecordHeader h;
    if (!format::decode_record_header(std::string_view(bytes).substr(pos, 56), &h).ok()) break;
    Walked w{pos, h.record_length(), h.type, bytes.substr(pos + 56, h.key_len), {}};
    if (h.type == RecordType::kPut) {
      std::string stored = bytes.substr(pos + 56 + h.key_len + h.meta_len, h.value_len);
      if (h.encoding == 1) {
        w.value.resize(h.raw_len);
        ZSTD_decompress(w.value.data(), w.value.size(), stored.data(), stored.size());
      } else {
        w.value = stored;
      }
    }
    out.push_back(std::move(w));
    pos += h.record_length();
  }
  EXPECT_EQ(pos, bytes.size()) << "the real file must walk to its end";
  return out;
}

TEST(HostileFiles, EveryTruncationLength) {
  testing::LogCapture quiet(LogLevel::kOff);  // damaged records, by the tens of thousands
  TempDir dir(TempDir::Medium::kMemory);
  RealFile f = MakeRealFile(dir);
  const std::vector<Walked> records = WalkRecords(f.bytes);
  const std::string path = dir.file("cut.rtc");
  std::vector<std::string> probe(f.keys.begin(), f.keys.end());
  ImageEnv image_env;
  Options in_memory;
  in_memory.env = &image_env;
  int tried = 0, mismatches = 0, repaired = 0;
  const long rss_before = MaxRssKb();
  for (size_t length = 0; length <= f.bytes.size(); ++length) {
    SCOPED_TRACE("truncated to " + std::to_string(length) + " of " +
                 std::to_string(f.bytes.size()) + " bytes");
    // Repairing writes a new file, so it runs on the disk (every 61st length).
    const bool repair = length % 61 == 0;
    if (repair) {
      testing::write_file(path, f.bytes.substr(0, length));
    } else {
      image_env.set(path, f.bytes.substr(0, length));
    }
    // What survives: every PUT/ERASE record that lies wholly within the cut,
    // applied in order (the index where it survives says the same).
    State expected;
    for (const Walked& r : records) {
      if (r.offset + r.length > length) break;
      if (r.type == RecordType::kPut) expected[r.key] = r.value;
      if (r.type == RecordType::kErase) expected.erase(r.key);
    }
    Options read_options = repair ? Options{} : in_memory;
    Outcome out = Exercise(path, f.versions, probe, repair, read_options);
    ++tried;
    repaired += repair && out.repair.ok();
    // Cut inside the magic (or to nothing): not an rtcache file at all; cut
    // later inside the header: a damaged one.
    if (length < sizeof format::kFileMagic) {
      EXPECT_TRUE(out.open.is_not_a_cache_file()) << out.open.to_string();
      continue;
    }
    if (length < format::kFileHeaderSize) {
      EXPECT_TRUE(out.open.is_corruption()) << out.open.to_string();
      continue;
    }
    ASSERT_OK(out.open);
    EXPECT_TRUE(out.wrong.empty()) << out.wrong.front();
    EXPECT_OK(out.roundtrip);
    // The exact state, read back (after a repair: from the repaired file).
    auto cache = testing::OpenCache(path, read_options);
    State got;
    for (const std::string& key : f.keys) {
      Bytes value;
      if (cache->get(key, &value).ok()) got[key] = value.str();
    }
    if (got != expected) ++mismatches;
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected) << "the salvaged state differs from the complete records";
    // A truncated file is a valid one only at an index boundary.
    EXPECT_EQ(out.verify.ok(), true) << out.verify.to_string();
  }
  // The portable bytes: every truncation of a serialize() image is refused
  // whole (a truncated stream must not load half a cache).
  auto cache = RuntimeCache::create();
  for (const auto& [k, v] : f.final_state) cache->put(k, v);
  std::string image;
  ASSERT_OK(cache->serialize(&image));
  int images = 0;
  for (size_t length = 1; length < image.size(); ++length) {
    auto copy = RuntimeCache::create();
    Status s = copy->deserialize(std::string_view(image).substr(0, length));
    EXPECT_FALSE(s.ok()) << "accepted a serialize() image cut to " << length;
    EXPECT_EQ(copy->size(), 0u);
    ++images;
  }
  const long rss_growth_mb = (MaxRssKb() - rss_before) / 1024;
  std::printf(
      "[figures] truncation: %d lengths of a %zu-byte file (each opened, every entry read, "
      "serialized, inspected, verified; %d repaired) + %d lengths of a %zu-byte serialize() "
      "image; crashes: 0, wrong states: %d, peak RSS growth %ld MB\n",
      tried, f.bytes.size(), repaired, images, image.size(), mismatches, rss_growth_mb);
}

TEST(HostileFiles, EverySingleBitFlip) {
  testing::LogCapture quiet(LogLevel::kOff);  // damaged records, by the tens of thousands
  TempDir dir(TempDir::Medium::kMemory);
  RealFile f = MakeRealFile(dir);
  const std::string path = dir.file("flipped.rtc");
  std::vector<std::string> probe(f.keys.begin(), f.keys.end());
  ImageEnv image_env;
  Options in_memory;
  in_memory.env = &image_env;
  int flips = 0, undetected = 0, open_refused = 0, fewer_entries = 0, repaired = 0;
  const long rss_before = MaxRssKb();
  testing::Stopwatch watch;
  // Sanitizer builds run ~10x slower: there, every bit of every third byte.
  const size_t stride = testing::kSanitizerBuild ? 3 : 1;
  for (size_t byte = 0; byte < f.bytes.size(); byte += stride) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = f.bytes;
      damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << bit));
      // Repairing writes a new file, so it runs on the disk (every 31st flip).
      const bool repair = (byte * 8 + bit) % 31 == 0;
      if (repair) {
        testing::write_file(path, damaged);
      } else {
        image_env.set(path, std::move(damaged));
      }
      Outcome out = Exercise(path, f.versions, probe, repair, repair ? Options{} : in_memory);
      ++flips;
      if (!out.wrong.empty()) {
        ADD_FAILURE() << "bit " << bit << " of byte " << byte << ": wrong value served for "
                      << out.wrong.front();
      }
      EXPECT_OK(out.roundtrip);
      if (!out.open.ok()) {
        ++open_refused;
        // A flip inside the magic makes it another format; elsewhere damage
        // (or a version number from the future).
        if (byte < sizeof format::kFileMagic) {
          EXPECT_TRUE(out.open.is_not_a_cache_file()) << out.open.to_string();
        } else {
          EXPECT_TRUE(out.open.is_corruption() || out.open.code() == Status::Code::kNotSupported)
              << out.open.to_string();
        }
      } else if (out.listed < f.final_state.size()) {
        ++fewer_entries;
      }
      // Every byte of the file is covered by a checksum, so verify must
      // notice every single-bit flip.
      if (!out.verify_found_damage) {
        ++undetected;
        ADD_FAILURE() << "verify_file missed a flip of bit " << bit << " of byte " << byte;
      }
      repaired += repair && out.repair.ok();
      if (undetected > 10) FAIL() << "too many undetected flips";
    }
  }
  const double seconds = watch.seconds();
  std::printf(
      "[figures] bit flips: %d single-bit flips (every bit of every %sbyte) of a %zu-byte file "
      "(opened, every entry read, "
      "serialized, inspected, verified; %d repaired); crashes: 0, wrong values served: 0, "
      "flips verify_file missed: %d; open refused %d, fewer entries %d; peak RSS growth %ld MB "
      "(%.1f s)\n",
      flips, stride == 1 ? "" : "third ", f.bytes.size(), repaired, undetected, open_refused,
      fewer_entries, (MaxRssKb() - rss_before) / 1024, seconds);
  EXPECT_EQ(undetected, 0);
}

// Bit flips in a serialize() image: deserialize() refuses every flip that
// touches the header, a record or the index, leaving the cache unchanged. A
// flip inside the padding before the index (zeros that no reader needs) is
// accepted, with every entry intact.
TEST(HostileFiles, EverySingleBitFlipOfASerializedImage) {
  auto cache = RuntimeCache::create();
  cache->put("k0", MakeValue("k0", 1));
  cache->put("k1", "raw");
  std::string image;
  ASSERT_OK(cache->serialize(&image));
  uint64_t pad_begin = 0, pad_end = 0;
  for (const Walked& r : WalkRecords(image)) {
    if (r.type == RecordType::kPad) pad_begin = r.offset, pad_end = r.offset + r.length;
  }
  ASSERT_GT(pad_end, pad_begin);
  int flips = 0, accepted = 0, accepted_outside_padding = 0;
  for (size_t byte = 0; byte < image.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = image;
      damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << bit));
      auto copy = RuntimeCache::create();
      Status s = copy->deserialize(damaged);
      ++flips;
      if (s.ok()) {
        ++accepted;
        if (byte < pad_begin || byte >= pad_end) {
          ++accepted_outside_padding;
          ADD_FAILURE() << "accepted a flip of bit " << bit << " of byte " << byte;
        }
        Bytes v0, v1;
        EXPECT_TRUE(copy->get("k0", &v0).ok() && v0.str() == MakeValue("k0", 1));
        EXPECT_TRUE(copy->get("k1", &v1).ok() && v1.str() == "raw");
        EXPECT_EQ(copy->size(), 2u);
      } else {
        EXPECT_EQ(copy->size(), 0u);
      }
    }
  }
  std::printf(
      "[figures] deserialize: %d single-bit flips of a %zu-byte image; refused %d, accepted %d "
      "(all inside the %llu bytes of padding, every entry intact)\n",
      flips, image.size(), flips - accepted, accepted,
      static_cast<unsigned long long>(pad_end - pad_begin));
  EXPECT_EQ(accepted_outside_padding, 0);
}

// A handle whose file has an index slot naming key A that points at key B's
// (intact) record: get(A) misses (the key is checked), and serialize() must
// still produce bytes that deserialize() accepts, as it does for any handle.
TEST(HostileFiles, SerializeOfAFileWhoseIndexMisnamesARecordDeserializes) {
  testing::LogCapture quiet(LogLevel::kOff);  // damaged records, by the tens of thousands
  TempDir dir(TempDir::Medium::kMemory);
  const std::string path = dir.file("misnamed.rtc");
  FileBuilder b;
  const uint64_t k0 = b.Put("k0", MakeValue("k0", 1));
  const uint64_t k1 = b.Put("k1", MakeValue("k1", 1));
  std::vector<Slot> slots = {{format::hash_key("k0"), k0, k1 - k0, 7},
                             {format::hash_key("k1"), k0, k1 - k0, 7}};  // k1 -> k0's record
  std::sort(slots.begin(), slots.end(),
            [](const Slot& a, const Slot& b) { return a.key_hash < b.key_hash; });
  b.Index(slots);
  testing::write_file(path, b.bytes);
  auto cache = testing::OpenCache(path);
  std::string image;
  ASSERT_OK(cache->serialize(&image));
  auto copy = RuntimeCache::create();
  Status s = copy->deserialize(image);
  EXPECT_OK(s) << "serialize() made bytes that deserialize() refuses: " << s.to_string();
  Bytes value;
  EXPECT_OK(cache->get("k0", &value));
  EXPECT_TRUE(cache->get("k1", &value).is_not_found());
  // Compaction copies records by slot: the compacted file must not carry the
  // misnamed slot on.
  ASSERT_OK(cache->compact());
  std::vector<EntryInfo> entries;
  ASSERT_OK(cache->entries(&entries));
  std::vector<std::string> keys;
  for (const auto& e : entries) keys.push_back(e.key);
  EXPECT_EQ(keys, std::vector<std::string>{"k0"}) << "entries after compaction";
}

// --- handcrafted files ---------------------------------------------------------------------

struct Crafted {
  Crafted(const char* n, std::string b, bool d = true, std::map<std::string, std::string> a = {},
          bool f = false)
      : name(n), bytes(std::move(b)), damaged(d), also(std::move(a)), foreign(f) {}
  const char* name;
  std::string bytes;
  bool damaged;                             // verify_file should report something
  std::map<std::string, std::string> also;  // values this file legitimately holds
  bool foreign;                             // not an rtcache file at all
};

std::vector<Crafted> CraftedFiles() {
  std::vector<Crafted> out;
  const std::string v0 = MakeValue("k0", 1), v1 = MakeValue("k1", 1);
  {
    FileBuilder b;
    out.push_back({"header only", b.bytes, false});
  }
  {
    FileBuilder b;
    b.Put("k0", v0);
    uint64_t at = b.Put("huge", "x");
    store_u64(&b.bytes, at + 16, 1ull << 47);  // value_len: 128 TB, below the 2^48 format bound
    store_u64(&b.bytes, at + 24, 1ull << 47);
    Reseal(&b.bytes, at);
    out.push_back({"PUT declaring a 128 TB value (valid header checksum)", b.bytes});
  }
  {
    FileBuilder b;
    b.Put("k0", v0);
    uint64_t at = b.Put("big", "x");
    store_u64(&b.bytes, at + 16, 900ull << 20);  // 900 MB: under max_value_bytes, past the end
    store_u64(&b.bytes, at + 24, 900ull << 20);
    Reseal(&b.bytes, at);
    b.live.push_back({format::hash_key("big"), at, 56 + 3 + 4 + (900ull << 20), 7});
    b.Index();
    out.push_back({"PUT declaring 900 MB, indexed with that length", b.bytes});
  }
  {
    FileBuilder b;
    uint64_t at = b.Put("k0", v0);
    store_u32(&b.bytes, at + 8, 0xffffffffu);  // key_len (its checksum cannot be made to match)
    b.Put("k1", v1);
    out.push_back({"PUT with key_len 4 GB", b.bytes});
  }
  {
    FileBuilder b;
    uint64_t at = b.Put("k0", v0);
    store_u32(&b.bytes, at + 12, (1u << 20) + 1);  // meta_len just over the bound
    b.Put("k1", v1);
    b.Index();
    out.push_back({"PUT with meta_len over 1 MB", b.bytes});
  }
  {
    FileBuilder b;
    b.Put("k0", v0);
    b.Put("k1", v1);
    uint64_t at = b.Index();
    // slot_count field of the index value: absurd, the record resealed.
    store_u64(&b.bytes, at + 56 + 16, 1ull << 61);
    Reseal(&b.bytes, at, true);
    out.push_back({"index with slot_count 2^61", b.bytes});
  }
  {
    FileBuilder b;
    uint64_t k0 = b.Put("k0", v0);
    uint64_t k1 = b.Put("k1", v1);
    const uint64_t end = b.bytes.size();
    std::vector<Slot> slots = {
        {format::hash_key("k0"), k0, end - k0, 7},    // too long: covers k1 too
        {format::hash_key("k1"), k0, k1 - k0, 7},     // k0's record under k1's hash
        {format::hash_key("a"), 0, 100, 7},           // offset 0 (the file header)
        {format::hash_key("b"), 1, 56, 7},            // inside the header
        {format::hash_key("c"), k0 + 3, 56, 7},       // the middle of a record
        {format::hash_key("d"), end + 4096, 56, 7},   // past the end
        {format::hash_key("e"), k1, 0, 7},            // length 0
        {format::hash_key("f"), k1, ~0ull, 7},        // length 2^64-1
        {format::hash_key("g"), ~0ull - 10, 100, 7},  // offset near 2^64
        {format::hash_key("h"), 4096, 200, 7},        // the index itself
        {format::hash_key("k2"), k1, end - k1, 7},    // k1's record under k2's hash
    };
    std::sort(slots.begin(), slots.end(),
              [](const Slot& a, const Slot& b) { return a.key_hash < b.key_hash; });
    b.Index(slots);
    out.push_back({"index slots pointing anywhere", b.bytes});
  }
  {
    FileBuilder b;
    // Overlapping records: k0's value holds a whole record of k1.
    std::string inner;
    format::append_record(&inner, RecordType::kPut, 0, "k1", "meta", v1, v1.size(), 5);
    uint64_t outer = b.Put("k0", inner);
    uint64_t inner_at = outer + 56 + 2 + 4;
    b.live.push_back({format::hash_key("k1"), inner_at, inner.size(), 7});
    b.Index();
    out.push_back(
        {"overlapping records (a record inside another's value)", b.bytes, false, {{"k0", inner}}});
  }
  {
    FileBuilder b;
    b.Put("k0", v0);
    uint64_t first = b.Index();
    b.Put("k1", v1);
    // A delta index that points at itself: its prev is its own offset.
    uint64_t pad = format::pad_before_index(b.bytes.size());
    uint64_t self = b.bytes.size() + pad;
    b.Index({{format::hash_key("k1"), first + 4096, 10, 7}}, format::IndexKind::kDelta, self, 1);
    out.push_back({"delta index pointing at itself", b.bytes});
  }
  {
    FileBuilder b;
    b.Put("k0", v0);
    b.Index();
    // A delta index pointing at a PUT record instead of an index.
    b.Index({}, format::IndexKind::kDelta, 64, 1);
    out.push_back({"delta index pointing at a record", b.bytes});
  }
  {
    FileBuilder b;
    b.Put("k0", v0);
    uint64_t prev = b.Index();
    // 100 chained deltas (more than the reader follows).
    for (int i = 0; i < 100; ++i) {
      prev = b.Index({}, format::IndexKind::kDelta, prev, static_cast<uint32_t>(i + 1));
    }
    out.push_back({"a chain of 100 delta indexes", b.bytes});
  }
  {
    FileBuilder b;
    b.Put("k0", v0);
    b.Index();
    // A trailer at the end pointing nowhere sensible.
    std::string trailer(32, '\0');
    store_u64(&trailer, 0, format::kTrailerMagic);
    store_u64(&trailer, 8, 1ull << 62);
    store_u64(&trailer, 16, ~0ull);
    store_u64(&trailer, 24, XXH3_64bits(trailer.data(), 24));
    b.bytes += trailer;
    out.push_back({"trailer with absurd offset and length", b.bytes});
  }
  {
    FileBuilder b;
    b.Put("k0", v0);
    // Every index-aligned position holds a "RCR1" index header declaring a
    // length that reaches far past the end.
    for (int i = 0; i < 8; ++i) {
      uint64_t pad = format::pad_before_index(b.bytes.size());
      format::append_pad(&b.bytes, pad);
      uint64_t at = b.bytes.size();
      format::append_record(&b.bytes, RecordType::kIndex, 0, {}, {}, std::string(200, 'i'), 200, 9);
      store_u64(&b.bytes, at + 16, 1ull << 40);
      store_u64(&b.bytes, at + 24, 1ull << 40);
      Reseal(&b.bytes, at);
    }
    out.push_back({"index headers declaring 1 TB at every 4 KB boundary", b.bytes});
  }
  {
    FileBuilder b;
    b.Put("k0", v0);
    b.Erase("k0");
    b.Put("k1", v1);
    b.Erase("nonexistent");
    // An ERASE with a value (erases carry none).
    uint64_t at = b.bytes.size();
    format::append_record(&b.bytes, RecordType::kErase, 0, "k1", {}, "junk", 4, 6);
    (void)at;
    out.push_back({"erases, one carrying a value", b.bytes});
  }
  {
    FileBuilder b;
    b.Put("k0", v0);
    std::string tail;
    for (int i = 0; i < 20000; ++i) tail += "RCR1";  // magics everywhere, nothing valid
    b.bytes += tail;
    out.push_back({"80 KB of record magics", b.bytes});
  }
  {
    FileBuilder b;
    std::string junk;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 65536; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      junk.push_back(static_cast<char>(x));
    }
    b.bytes += junk;
    out.push_back({"64 KB of random bytes after a valid header", b.bytes});
  }
  {
    FileBuilder b;
    uint64_t at = b.Put("k0", v0);
    b.bytes[at + 5] = 7;  // unknown encoding
    Reseal(&b.bytes, at);
    b.Put("k1", v1);
    b.Index();
    out.push_back({"unknown value encoding", b.bytes});
  }
  {
    std::string header = format::encode_file_header({format::kFormatVersion + 1, 1, 1, 0});
    out.push_back({"newer format version", header});
  }
  out.push_back({"not an rtcache file", std::string("#!/bin/sh\necho hello\n"), true, {}, true});
  return out;
}

// Zstd frames for the bomb cases.
std::string Compress(const std::string& raw) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 19));
  return out;
}

TEST(HostileFiles, HandcraftedFilesAreRejectedOrSalvaged) {
  testing::LogCapture quiet(LogLevel::kOff);  // damaged records, by the tens of thousands
  TempDir dir(TempDir::Medium::kMemory);
  const std::string path = dir.file("crafted.rtc");
  std::map<std::string, std::set<std::string>> expected = {
      {"k0", {MakeValue("k0", 1)}},
      {"k1", {MakeValue("k1", 1)}},
  };
  std::vector<std::string> probe = {"k0", "k1", "k2", "huge", "big", "a", "b",
                                    "c",  "d",  "e",  "f",    "g",   "h", "nonexistent"};
  int files = 0, verify_missed = 0, roundtrip_refused = 0;
  for (const Crafted& c : CraftedFiles()) {
    SCOPED_TRACE(c.name);
    auto allowed = expected;
    for (const auto& [k, v] : c.also) allowed[k].insert(v);
    const long rss_before = MaxRssKb();
    testing::Stopwatch watch;
    testing::write_file(path, c.bytes);
    Outcome out = Exercise(path, allowed, probe, /*repair=*/true);
    ++files;
    const double seconds = watch.seconds();
    EXPECT_TRUE(out.wrong.empty())
        << "wrong value for " << out.wrong.front() << " of " << out.wrong.size();
    EXPECT_TRUE(out.open.ok() || out.open.is_corruption() ||
                out.open.code() == Status::Code::kNotSupported || out.open.is_not_a_cache_file())
        << out.open.to_string();
    if (c.foreign) {
      EXPECT_TRUE(out.open.is_not_a_cache_file()) << out.open.to_string();
    }
    // Damage that checksums cannot see (a well-formed index whose content is
    // wrong) is not always reported by verify_file: listed, not asserted.
    if (c.damaged && !out.verify_found_damage) ++verify_missed;
    // Tested on its own below (SerializeOfAFileWhoseIndexMisnamesARecord...).
    if (!out.roundtrip.ok()) ++roundtrip_refused;
    if (!c.damaged) {
      EXPECT_FALSE(out.verify_found_damage);
    }
    EXPECT_LT((MaxRssKb() - rss_before) / 1024, 64) << "memory grew by more than 64 MB";
    EXPECT_LT(seconds, 10.0) << "took " << seconds << " s";
    // The same bytes as portable bytes: refused unless complete and intact.
    auto copy = RuntimeCache::create();
    (void)copy->deserialize(c.bytes);
    std::printf("[hostile] %-58s open: %-14s served %zu, verify %s, repair %s (%.3f s)\n", c.name,
                std::string(code_name(out.open.code())).c_str(), out.served,
                out.verify_found_damage ? "found damage" : (c.damaged ? "MISSED it" : "clean"),
                std::string(code_name(out.repair.code())).c_str(), seconds);
  }
  std::printf(
      "[figures] handcrafted hostile files: %d; crashes: 0, hangs: 0, wrong values: 0; "
      "verify_file missed %d; serialize() images deserialize() refused: %d\n",
      files, verify_missed, roundtrip_refused);
}

TEST(HostileFiles, ZstdDecompressionBombs) {
  testing::LogCapture quiet(LogLevel::kOff);  // damaged records, by the tens of thousands
  TempDir dir(TempDir::Medium::kMemory);
  const std::string path = dir.file("bomb.rtc");
  const std::string big(1 << 20, 'A');  // 1 MB of one byte: a ~60-byte frame
  const std::string frame = Compress(big);
  ASSERT_LT(frame.size(), 200u);
  std::map<std::string, std::set<std::string>> expected = {{"ok", {MakeValue("ok", 1)}},
                                                           {"bomb", {big}}};

  struct Case {
    const char* name;
    std::string frame;
    uint64_t raw_len;
    uint64_t max_value_bytes;
    bool may_serve;  // the record is genuine (within the configured bound)
  };
  // A frame whose header declares 100 bytes while its blocks hold 1 MB: the
  // content size field is the last field of the frame header (RFC 8878).
  std::string lying = frame;
  {
    const uint8_t fhd = static_cast<uint8_t>(lying[4]);
    const int fcs_flag = fhd >> 6, single = (fhd >> 5) & 1, dict_flag = fhd & 3;
    const size_t dict_bytes[] = {0, 1, 2, 4};
    const size_t fcs_sizes[] = {static_cast<size_t>(single ? 1 : 0), 2, 4, 8};
    const size_t at = 4 + 1 + (single ? 0 : 1) + dict_bytes[dict_flag];
    const size_t fcs_bytes = fcs_sizes[fcs_flag];
    ASSERT_GE(fcs_bytes, 2u);
    uint64_t declared = fcs_bytes == 2 ? 100 - 256 : 100;
    std::memcpy(lying.data() + at, &declared, fcs_bytes);
    ASSERT_EQ(ZSTD_getFrameContentSize(lying.data(), lying.size()), 100u);
  }
  // A frame without a content size (streaming).
  std::string unsized;
  {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
    unsized.resize(ZSTD_compressBound(big.size()));
    unsized.resize(ZSTD_compress2(cctx, unsized.data(), unsized.size(), big.data(), big.size()));
    ZSTD_freeCCtx(cctx);
  }
  // 256 MB of zeros in a few KB (compressed as a stream, so that the test
  // itself never holds 256 MB).
  const std::string zeros_frame = [] {
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setPledgedSrcSize(cctx, 256u << 20);
    const std::string chunk(1 << 20, '\0');
    std::string out;
    std::string buf(ZSTD_CStreamOutSize(), '\0');
    for (int i = 0; i < 256; ++i) {
      ZSTD_inBuffer in{chunk.data(), chunk.size(), 0};
      const ZSTD_EndDirective mode = i == 255 ? ZSTD_e_end : ZSTD_e_continue;
      size_t left;
      do {
        ZSTD_outBuffer o{buf.data(), buf.size(), 0};
        left = ZSTD_compressStream2(cctx, &o, &in, mode);
        out.append(buf.data(), o.pos);
      } while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
    }
    ZSTD_freeCCtx(cctx);
    return out;
  }();
  ASSERT_EQ(ZSTD_getFrameContentSize(zeros_frame.data(), zeros_frame.size()), 256u << 20);
  const std::vector<Case> cases = {
      {"record says 100 bytes, frame declares 1 MB", frame, 100, 1ull << 30, false},
      {"record and frame say 100 bytes, blocks hold 1 MB", lying, 100, 1ull << 30, false},
      {"frame without a content size", unsized, big.size(), 1ull << 30, false},
      {"record declares 2^40 bytes", frame, 1ull << 40, 1ull << 30, false},
      {"256 MB of zeros in a few KB, max_value_bytes 1 MB", zeros_frame, 256u << 20, 1u << 20,
       false},
      {"1 MB frame, honest, default bound", frame, big.size(), 1ull << 30, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FileBuilder b;
    b.Put("ok", MakeValue("ok", 1));
    b.PutZstd("bomb", c.frame, c.raw_len);
    b.Index();
    testing::write_file(path, b.bytes);
    Options options;
    options.max_value_bytes = c.max_value_bytes;
    const long rss_before = MaxRssKb();
    Outcome out = Exercise(path, expected, {"ok", "bomb"}, /*repair=*/true, options);
    const long growth_mb = (MaxRssKb() - rss_before) / 1024;
    EXPECT_OK(out.open);
    EXPECT_TRUE(out.wrong.empty()) << out.wrong.front();
    EXPECT_EQ(out.served_keys.count("bomb") == 1, c.may_serve);
    EXPECT_EQ(out.served_keys.count("ok"), 1u);
    if (!c.may_serve) {
      EXPECT_TRUE(out.verify_found_damage);
    }
    EXPECT_LT(growth_mb, 32) << "decoding allocated " << growth_mb << " MB";
    std::printf("[hostile] zstd: %-52s bomb served: %s, RSS growth %ld MB\n", c.name,
                out.served_keys.count("bomb") ? "yes" : "no", growth_mb);
  }
  // The bound is Options::max_value_bytes (1 GB by default): within it, a
  // genuine 256 MB value of zeros stored in a few KB is decoded, exactly once.
  {
    FileBuilder b;
    b.PutZstd("zeros", zeros_frame, 256u << 20);
    b.Index();
    testing::write_file(path, b.bytes);
    auto cache = testing::OpenCache(path);
    const long rss_before = MaxRssKb();
    Bytes value;
    ASSERT_OK(cache->get("zeros", &value));
    EXPECT_EQ(value.size(), 256u << 20);
    const long growth_mb = (MaxRssKb() - rss_before) / 1024;
    std::printf(
        "[hostile] zstd: a %zu-byte frame declaring 256 MB (default bound 1 GB) decodes; RSS "
        "growth %ld MB\n",
        zeros_frame.size(), growth_mb);
  }
}

}  // namespace
}  // namespace rtcache
