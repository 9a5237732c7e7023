// The storage layer directly (src/storage/: reader, writer, record I/O, view,
// image, walk, trust), below any RuntimeCache: a commit read back record by
// record, a delta index chain and when it is folded into a full index, a torn
// tail salvaged by readers and cut by the next writer, compaction, damaged
// records, and files that are not cache files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "storage/store.h"
#include "test_util.h"

namespace rtcache::store {
namespace {

using format::IndexKind;
using format::RecordType;
using format::Slot;
using testing::MakeValue;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

Env* env() {
  return Env::default_env();
}

EncodedRecord Put(const std::string& key, const std::string& value, int64_t ts = 1000) {
  EncodedRecord r;
  r.key_hash = format::hash_key(key);
  r.last_used_ns = ts;
  format::append_record_head(&r.head, RecordType::kPut, 0, key, "meta:" + key, value, value.size(),
                             ts);
  r.stored = value;
  return r;
}

EncodedRecord Erase(const std::string& key, int64_t ts = 2000) {
  EncodedRecord r;
  r.key_hash = format::hash_key(key);
  r.erase = true;
  r.last_used_ns = ts;
  format::append_record_head(&r.head, RecordType::kErase, 0, key, {}, {}, 0, ts);
  return r;
}

CommitOptions NoCompaction() {
  CommitOptions options;
  options.sync = false;  // durability is fault_test's subject
  options.compaction_min_dead_bytes = ~0ull;
  return options;
}

// Commits `records`; the file's view afterwards.
std::shared_ptr<const View> Commit(const std::string& path, std::vector<EncodedRecord> records,
                                   const std::shared_ptr<const View>& known = nullptr,
                                   const CommitOptions& options = NoCompaction(),
                                   CommitResult* out = nullptr) {
  Changes changes;
  changes.records = std::move(records);
  CommitResult result;
  Status s = commit(env(), path, options, changes, known, &result);
  EXPECT_OK(s);
  if (out) *out = result;
  return result.view;
}

std::shared_ptr<const View> Open(const std::string& path) {
  std::shared_ptr<const View> view;
  EXPECT_OK(open_view(env(), path, Limits{}, nullptr, &view));
  return view;
}

// key -> value of every live slot of `view`, each record read and verified.
std::map<std::string, std::string> Contents(const View& view) {
  std::map<std::string, std::string> out;
  for (const Slot& slot : view.slots) {
    Record record;
    Status s =
        read_record(*view.file, slot.offset, slot.length, Limits{}, ReadMode::kValue, &record);
    EXPECT_OK(s) << " slot at " << slot.offset;
    if (!s.ok()) continue;
    EXPECT_EQ(format::hash_key(record.key), slot.key_hash);
    EXPECT_EQ(record.meta, "meta:" + record.key);
    out[record.key] = record.value.str();
  }
  return out;
}

std::map<std::string, std::string> Values(std::initializer_list<const char*> keys,
                                          uint64_t version = 1) {
  std::map<std::string, std::string> out;
  for (const char* k : keys) out[k] = MakeValue(k, version);
  return out;
}

std::vector<EncodedRecord> Puts(std::initializer_list<const char*> keys, uint64_t version = 1) {
  std::vector<EncodedRecord> out;
  for (const char* k : keys) out.push_back(Put(k, MakeValue(k, version)));
  return out;
}

// --- commit and read back -------------------------------------------------------------------

TEST(StorageCommit, FirstCommitCreatesAFileThatReadsBack) {
  TempDir dir;
  const std::string path = dir.file("s.rtc");
  CommitResult result;
  auto view = Commit(path, Puts({"a", "b", "c"}), nullptr, NoCompaction(), &result);
  ASSERT_NE(view, nullptr);
  EXPECT_TRUE(result.created);
  EXPECT_EQ(result.offsets.size(), 3u);
  EXPECT_EQ(testing::permission_bits(path), 0600u);

  auto opened = Open(path);
  ASSERT_NE(opened, nullptr);
  EXPECT_TRUE(opened->has_index);
  EXPECT_EQ(opened->index_info.kind, IndexKind::kFull);
  EXPECT_EQ(opened->end, opened->file_size);
  EXPECT_EQ(opened->file_size, testing::file_size(path));
  EXPECT_TRUE(opened->unindexed.empty());
  EXPECT_EQ(opened->slots.size(), 3u);
  EXPECT_EQ(opened->live_bytes, sum_lengths(opened->slots));
  EXPECT_EQ(Contents(*opened), Values({"a", "b", "c"}));
  EXPECT_NE(opened->find(format::hash_key("b")), nullptr);
  EXPECT_EQ(opened->find(format::hash_key("zz")), nullptr);
}

TEST(StorageCommit, ReadRecordModesAndLengthCheck) {
  TempDir dir;
  const std::string path = dir.file("s.rtc");
  Commit(path, Puts({"a"}));
  auto view = Open(path);
  ASSERT_NE(view, nullptr);
  const Slot slot = view->slots.at(0);
  Record header_only, with_raw;
  ASSERT_OK(read_record(*view->file, slot.offset, slot.length, Limits{}, ReadMode::kHeaderOnly,
                        &header_only));
  EXPECT_EQ(header_only.key, "a");
  EXPECT_EQ(header_only.header.type, RecordType::kPut);
  ASSERT_OK(read_record(*view->file, slot.offset, 0, Limits{}, ReadMode::kValueAndRaw, &with_raw));
  EXPECT_EQ(with_raw.value.str(), MakeValue("a", 1));
  EXPECT_EQ(with_raw.raw.size(), slot.length);
  EXPECT_EQ(with_raw.raw, read_file(path).substr(slot.offset, slot.length));
  // A length that disagrees with the header is damage, named by file and offset.
  Record wrong;
  Status s =
      read_record(*view->file, slot.offset, slot.length + 1, Limits{}, ReadMode::kValue, &wrong);
  EXPECT_TRUE(s.is_corruption()) << s.to_string();
  EXPECT_NE(s.message().find(record_at(path, slot.offset)), std::string::npos) << s.to_string();
}

TEST(StorageCommit, FlippedValueByteIsCorruptionNamingFileAndOffset) {
  TempDir dir;
  const std::string path = dir.file("s.rtc");
  auto view = Commit(path, Puts({"a", "b"}));
  ASSERT_NE(view, nullptr);
  const Slot* a = view->find(format::hash_key("a"));
  ASSERT_NE(a, nullptr);
  std::string bytes = read_file(path);
  bytes[a->offset + a->length - 1] ^= 0x01;  // the value's last byte
  write_file(path, bytes);
  auto damaged = Open(path);
  ASSERT_NE(damaged, nullptr) << "the index is intact: the file opens";
  Record record;
  Status s = read_record(*damaged->file, a->offset, a->length, Limits{}, ReadMode::kValue, &record);
  EXPECT_TRUE(s.is_corruption()) << s.to_string();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("offset " + std::to_string(a->offset)), std::string::npos);
  const Slot* b = damaged->find(format::hash_key("b"));
  ASSERT_NE(b, nullptr);
  EXPECT_OK(read_record(*damaged->file, b->offset, b->length, Limits{}, ReadMode::kValue, &record));
}

// --- the index chain --------------------------------------------------------------------------

TEST(StorageIndex, EachCommitAddsADeltaUntilTheChainIsFoldedIntoAFullIndex) {
  TempDir dir;
  const std::string path = dir.file("s.rtc");
  auto view = Commit(path, Puts({"a", "b", "c", "d"}));
  ASSERT_NE(view, nullptr);
  std::map<std::string, std::string> want = Values({"a", "b", "c", "d"});
  uint64_t previous_index = view->index_offset;
  bool folded = false;
  for (uint32_t i = 1; i <= 16 && !folded; ++i) {
    SCOPED_TRACE("commit " + std::to_string(i));
    const std::string key = "n" + std::to_string(i);
    std::vector<EncodedRecord> records = {Put(key, MakeValue(key, 1))};
    if (i == 3) records.push_back(Erase("b"));
    if (i == 5) records.push_back(Put("a", MakeValue("a", 2)));
    want[key] = MakeValue(key, 1);
    if (i == 3) want.erase("b");
    if (i == 5) want["a"] = MakeValue("a", 2);
    view = Commit(path, std::move(records), view);
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(view->index_offset % format::kIndexAlignment, 0u);
    if (view->index_info.kind == IndexKind::kDelta) {
      EXPECT_EQ(view->index_info.depth, i);
      EXPECT_EQ(view->index_info.prev_index_offset, previous_index);
    } else {
      // After 15 deltas, the 16th save writes a full index again.
      EXPECT_EQ(i, 16u);
      EXPECT_EQ(view->index_info.depth, 0u);
      folded = true;
    }
    previous_index = view->index_offset;
    // A reader that opens the file now sees the same, following the chain.
    auto opened = Open(path);
    ASSERT_NE(opened, nullptr);
    EXPECT_EQ(opened->index_offset, view->index_offset);
    EXPECT_EQ(opened->slots.size(), want.size());
    EXPECT_EQ(Contents(*opened), want);
  }
  EXPECT_TRUE(folded) << "the chain never went back to a full index";
}

TEST(StorageIndex, AReaderWithAnOlderViewOnlyAppliesTheNewDeltas) {
  TempDir dir;
  const std::string path = dir.file("s.rtc");
  auto first = Commit(path, Puts({"a"}));
  auto second = Commit(path, Puts({"b"}), first);
  ASSERT_NE(second, nullptr);
  auto old_view = Open(path);
  Commit(path, Puts({"c"}), second);
  // Unchanged: the same View back.
  auto current = Open(path);
  std::shared_ptr<const View> again;
  ASSERT_OK(open_view(env(), path, Limits{}, current, &again));
  EXPECT_EQ(again.get(), current.get());
  // Extended from the older one: the same result as a fresh read.
  std::shared_ptr<const View> extended;
  ASSERT_OK(open_view(env(), path, Limits{}, old_view, &extended));
  EXPECT_EQ(Contents(*extended), Values({"a", "b", "c"}));
  EXPECT_EQ(extended->index_offset, Open(path)->index_offset);
}

TEST(StorageIndex, ApplySlotsLetsTheLastChangeWinAndErasesOnOffsetZero) {
  const uint64_t a = 1, b = 2, c = 3;
  std::vector<Slot> base = {{a, 100, 60, 1}, {b, 200, 60, 1}};
  std::vector<Slot> delta = {{c, 300, 60, 2}, {a, 400, 60, 3}, {b, 0, 0, 4}, {a, 500, 70, 5}};
  std::vector<Slot> out = apply_slots(base, delta);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key_hash, a);
  EXPECT_EQ(out[0].offset, 500u) << "the last change to a key wins";
  EXPECT_EQ(out[1].key_hash, c);
  EXPECT_EQ(sum_lengths(out), 130u);
}

// --- torn tails -------------------------------------------------------------------------------

TEST(StorageTornTail, CompleteRecordsAreSalvagedAndTheRestCutByTheNextCommit) {
  TempDir dir;
  const std::string path = dir.file("s.rtc");
  auto view = Commit(path, Puts({"a", "b"}));
  ASSERT_NE(view, nullptr);
  const uint64_t committed = testing::file_size(path);
  // A writer died after appending one whole record and half of the next.
  std::string tail;
  format::append_record(&tail, RecordType::kPut, 0, "salvaged", "meta:salvaged",
                        MakeValue("salvaged", 1), MakeValue("salvaged", 1).size(), 1500);
  std::string torn;
  format::append_record(&torn, RecordType::kPut, 0, "torn", "meta:torn", MakeValue("torn", 1),
                        MakeValue("torn", 1).size(), 1600);
  write_file(path, read_file(path) + tail + torn.substr(0, torn.size() / 2));

  auto reader = Open(path);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->file_size, committed + tail.size() + torn.size() / 2);
  EXPECT_EQ(reader->end, committed + tail.size()) << "the valid prefix ends after the salvage";
  ASSERT_EQ(reader->unindexed.size(), 1u);
  EXPECT_EQ(reader->unindexed[0].key_hash, format::hash_key("salvaged"));
  EXPECT_EQ(reader->unindexed[0].offset, committed);
  EXPECT_EQ(read_file(path).size(), reader->file_size) << "readers never change the file";

  // The next writer cuts the torn half and indexes the salvaged record.
  auto after = Commit(path, Puts({"c"}), reader);
  ASSERT_NE(after, nullptr);
  auto opened = Open(path);
  EXPECT_EQ(opened->end, opened->file_size);
  EXPECT_TRUE(opened->unindexed.empty());
  std::map<std::string, std::string> want = Values({"a", "b", "c", "salvaged"});
  EXPECT_EQ(Contents(*opened), want);
  EXPECT_EQ(read_file(path).find(torn.substr(format::kRecordHeaderSize, 4)), std::string::npos)
      << "the torn record's bytes are gone";
  // Every record from the start verifies again.
  std::shared_ptr<File> file;
  uint64_t size = 0;
  ASSERT_OK(open_for_walk(env(), path, &file, &size));
  std::vector<Damage> damaged;
  int records = 0;
  ASSERT_OK(
      walk_records(*file, size, Limits{}, &damaged, [&](uint64_t, const Record&) { ++records; }));
  EXPECT_TRUE(damaged.empty()) << damaged.front().reason;
  EXPECT_GT(records, 4);
}

TEST(StorageTornTail, WalkListsTheDamageAndGoesOn) {
  TempDir dir;
  const std::string path = dir.file("s.rtc");
  auto view = Commit(path, Puts({"a", "b", "c"}));
  const Slot* b = view->find(format::hash_key("b"));
  ASSERT_NE(b, nullptr);
  std::string bytes = read_file(path);
  bytes[b->offset + 60] ^= 0x01;  // inside b's key: its header checksum fails
  write_file(path, bytes);
  std::shared_ptr<File> file;
  uint64_t size = 0;
  ASSERT_OK(open_for_walk(env(), path, &file, &size));
  std::vector<Damage> damaged;
  std::vector<std::string> keys;
  ASSERT_OK(walk_records(*file, size, Limits{}, &damaged, [&](uint64_t, const Record& r) {
    if (r.header.type == RecordType::kPut) keys.push_back(r.key);
  }));
  ASSERT_EQ(damaged.size(), 1u);
  EXPECT_EQ(damaged[0].offset, b->offset);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "c"})) << "resynchronised after the damage";
}

// --- compaction -------------------------------------------------------------------------------

TEST(StorageCompaction, ForcedCommitRewritesOnlyLiveRecords) {
  TempDir dir;
  const std::string path = dir.file("s.rtc");
  auto view = Commit(path, Puts({"a", "b", "c", "d"}));
  view = Commit(path, {Put("a", MakeValue("a", 2)), Erase("b"), Erase("c")}, view);
  ASSERT_NE(view, nullptr);
  EXPECT_GT(view->dead_bytes(), 0u);
  const uint64_t old_id = view->header.file_id;
  const uint64_t before = testing::file_size(path);

  CommitOptions force = NoCompaction();
  force.force_compaction = true;
  CommitResult result;
  auto compacted = Commit(path, {}, view, force, &result);
  ASSERT_NE(compacted, nullptr);
  EXPECT_TRUE(result.compacted);
  EXPECT_OK(result.compaction_status);
  EXPECT_LT(testing::file_size(path), before);
  EXPECT_NE(compacted->header.file_id, old_id) << "a compaction writes a new file";
  EXPECT_LT(compacted->dead_bytes(), format::kIndexAlignment) << "only alignment padding";
  EXPECT_EQ(testing::permission_bits(path), 0600u);
  EXPECT_TRUE(dir.names("s.rtc.tmp-").empty()) << "no temp file is left";

  auto opened = Open(path);
  EXPECT_EQ(opened->index_info.kind, IndexKind::kFull);
  std::map<std::string, std::string> want = {{"a", MakeValue("a", 2)}, {"d", MakeValue("d", 1)}};
  EXPECT_EQ(Contents(*opened), want);
  // The old View stays readable through its open descriptor.
  EXPECT_EQ(Contents(*view).size(), 2u);
}

TEST(StorageCompaction, DeadBytesPastTheThresholdsCompactOnTheirOwn) {
  TempDir dir;
  const std::string path = dir.file("s.rtc");
  CommitOptions eager = NoCompaction();
  eager.compaction_min_dead_bytes = 1;
  eager.compaction_dead_ratio = 0.3;
  auto view = Commit(path, Puts({"a", "b"}), nullptr, eager);
  CommitResult result;
  view = Commit(path, Puts({"a", "b"}, 2), view, eager, &result);
  EXPECT_TRUE(result.compacted) << "half the records are superseded";
  EXPECT_EQ(Contents(*Open(path)), Values({"a", "b"}, 2));
}

// --- images and memory files --------------------------------------------------------------------

TEST(StorageImage, ABuiltImageReadsLikeAFile) {
  const std::string image = build_image(Puts({"x", "y"}));
  EXPECT_EQ(build_image(Puts({"x", "y"})), image) << "the same records give the same bytes";
  format::FileHeader header;
  ASSERT_OK(format::decode_file_header(std::string_view(image).substr(0, 64), &header));
  EXPECT_EQ(header.image_length, image.size());
  std::shared_ptr<const View> view;
  ASSERT_OK(read_view(memory_file("image", image), Limits{}, nullptr, &view));
  EXPECT_TRUE(view->has_index);
  EXPECT_EQ(view->end, image.size());
  EXPECT_EQ(Contents(*view), Values({"x", "y"}));
}

// --- what a reader refuses ----------------------------------------------------------------------

TEST(StorageOpen, MissingEmptyForeignAndNonRegularPaths) {
  TempDir dir;
  std::shared_ptr<const View> view;
  Status missing = open_view(env(), dir.file("absent.rtc"), Limits{}, nullptr, &view);
  EXPECT_TRUE(missing.is_not_found()) << missing.to_string();

  write_file(dir.file("empty.rtc"), "");
  Status empty = open_view(env(), dir.file("empty.rtc"), Limits{}, nullptr, &view);
  EXPECT_TRUE(empty.is_not_a_cache_file()) << empty.to_string();
  EXPECT_NE(empty.message().find(dir.file("empty.rtc")), std::string::npos) << empty.to_string();

  write_file(dir.file("foreign.rtc"), std::string(200, 'F'));
  Status foreign = open_view(env(), dir.file("foreign.rtc"), Limits{}, nullptr, &view);
  EXPECT_TRUE(foreign.is_not_a_cache_file()) << foreign.to_string();

  ASSERT_EQ(::mkdir(dir.file("a-dir").c_str(), 0700), 0);
  Status directory = open_view(env(), dir.file("a-dir"), Limits{}, nullptr, &view);
  EXPECT_TRUE(directory.is_not_a_cache_file()) << directory.to_string();
  EXPECT_NE(directory.message().find("not a regular file"), std::string::npos);

  format::FileHeader newer;
  newer.version = format::kFormatVersion + 1;
  write_file(dir.file("newer.rtc"), format::encode_file_header(newer));
  Status future = open_view(env(), dir.file("newer.rtc"), Limits{}, nullptr, &view);
  EXPECT_EQ(future.code(), Status::Code::kNotSupported) << future.to_string();

  std::string damaged = build_image(Puts({"x"}));
  damaged[30] ^= 0x01;  // inside the header's checksummed fields
  write_file(dir.file("damaged.rtc"), damaged);
  Status corrupt = open_view(env(), dir.file("damaged.rtc"), Limits{}, nullptr, &view);
  EXPECT_TRUE(corrupt.is_corruption()) << corrupt.to_string();
}

TEST(StorageTrust, FilesOthersCanWriteAreRefusedUnlessTrusted) {
  TempDir dir;
  const std::string path = dir.file("s.rtc");
  Commit(path, Puts({"a"}));
  ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
  std::shared_ptr<const View> view;
  Status s = open_view(env(), path, Limits{}, nullptr, &view);
  EXPECT_TRUE(s.is_permission_denied()) << s.to_string();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.to_string();
  Limits trusting;
  trusting.trust_others = true;
  EXPECT_OK(open_view(env(), path, trusting, nullptr, &view));
  FileInfo info;
  ASSERT_OK(env()->stat(path, true, &info));
  EXPECT_TRUE(check_trust(path, info, Limits{}).is_permission_denied());
  EXPECT_OK(check_trust(path, info, trusting));
}

}  // namespace
}  // namespace rtcache::store
