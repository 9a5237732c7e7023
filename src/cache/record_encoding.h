// The one mapping from the handle's entries to the storage layer's records:
// a put encoded (and compressed) as a PUT record, an erase as an ERASE
// record, a record already in a file copied as stored.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "cache/handle_state.h"
#include "rtcache/options.h"
#include "storage/store.h"

namespace rtcache {

// Encodes the value of a put as a record, compressing outside any lock.
store::EncodedRecord encode_put(const Options& options, std::string_view key, const Entry& e);

store::EncodedRecord encode_erase(std::string_view key, int64_t now);

// A record copied as it is stored in a file (no re-encoding), keyed by its
// own key whatever the index said.
store::EncodedRecord stored_as_is(const format::Slot& slot, const std::string& key,
                                  std::string raw_record);

// Runs fn(0..n-1), on several threads when there is enough compression work
// to pay for them: a save is bound by compression above a few hundred KB.
void parallel_for(size_t n, uint64_t work_bytes, const std::function<void(size_t)>& fn);

}  // namespace rtcache
