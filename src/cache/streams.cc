// RuntimeCache: the portable byte string (serialize/deserialize) and streams.
#include <algorithm>
#include <istream>
#include <iterator>
#include <ostream>

#include "cache/decode_budget.h"
#include "cache/handle_state.h"
#include "cache/record_encoding.h"
#include "cache/storage_options.h"

namespace rtcache {

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
  *out = store::build_image(records);
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
  // Verify everything before changing anything, decoding within a budget.
  DecodeBudget budget(bytes.size());
  std::vector<store::Record> records(view->slots.size());
  for (size_t i = 0; i < view->slots.size(); ++i) {
    const format::Slot& slot = view->slots[i];
    s = store::read_record(*view->file, slot.offset, slot.length, st.limits,
                           store::ReadMode::kHeaderOnly, &records[i]);
    if (s.ok()) s = budget.charge(name, records[i].header.raw_len);
    if (s.ok()) {
      s = store::read_record(*view->file, slot.offset, slot.length, st.limits,
                             store::ReadMode::kValue, &records[i]);
    }
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
  // is consumed; a whole cache file (no length) is read to the end of the
  // stream; anything else is refused at once, so that an endless stream of
  // something else (/dev/zero) is not read into memory.
  std::string bytes(format::kFileHeaderSize, '\0');
  stream.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<size_t>(stream.gcount()));
  if (stream.bad()) return Status::IOError("stream: read failed");
  format::FileHeader header;
  if (!bytes.empty()) {
    Status hs = format::decode_file_header(bytes, &header);
    if (!hs.ok()) return hs.with_context("serialized cache");
  }
  if (header.image_length > bytes.size()) {
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

}  // namespace rtcache
