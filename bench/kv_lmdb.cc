// LMDB as a kernel cache: one environment file (MDB_NOSUBDIR, plus its
// "-lock" file), the unnamed database, default durability (no MDB_NOSYNC, no
// MDB_NOMETASYNC: a commit fsyncs the data and then the meta page). Reads are
// zero-copy pointers into LMDB's read-only map.
#include <lmdb.h>

#include <memory>
#include <string>

#include "kv_store.h"

namespace bench {

namespace {

// Larger than any store the benchmark builds (10,000 values are ~640 MB plus
// the additions); only address space is reserved, the file grows as used.
constexpr size_t kMapBytes = size_t{8} << 30;

std::string lmdb_error(const std::string& what, int rc) {
  return what + ": " + mdb_strerror(rc);
}

class LmdbStore final : public KvStore {
 public:
  ~LmdbStore() override {
    if (env_) mdb_env_close(env_);
  }

  bool open(const std::string& path, std::string* error) {
    int rc = mdb_env_create(&env_);
    if (rc == 0) rc = mdb_env_set_mapsize(env_, kMapBytes);
    // Readers of workload 6 (2 threads) and workload 5 (4 processes) stay far
    // below the default 126 reader slots.
    if (rc == 0) rc = mdb_env_open(env_, path.c_str(), MDB_NOSUBDIR, 0600);
    if (rc != 0) {
      *error = lmdb_error("mdb_env_open " + path, rc);
      return false;
    }
    MDB_txn* txn = nullptr;
    rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    if (rc == 0) rc = mdb_dbi_open(txn, nullptr, 0, &dbi_);
    if (txn) mdb_txn_abort(txn);  // the unnamed database's handle outlives it
    if (rc != 0) {
      *error = lmdb_error("mdb_dbi_open", rc);
      return false;
    }
    return true;
  }

  bool put_batch(const std::vector<Entry>& entries, std::string* error) override {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) {
      *error = lmdb_error("mdb_txn_begin", rc);
      return false;
    }
    for (const Entry& entry : entries) {
      MDB_val key{entry.key.size(), const_cast<char*>(entry.key.data())};
      MDB_val value{entry.value.size(), const_cast<char*>(entry.value.data())};
      rc = mdb_put(txn, dbi_, &key, &value, 0);
      if (rc != 0) {
        mdb_txn_abort(txn);
        *error = lmdb_error("mdb_put", rc);
        return false;
      }
    }
    rc = mdb_txn_commit(txn);  // fsyncs before returning
    if (rc != 0) *error = lmdb_error("mdb_txn_commit", rc);
    return rc == 0;
  }

  bool get_batch(const std::vector<std::string>& keys, ValueConsumer& consumer,
                 std::string* error) override {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    if (rc != 0) {
      *error = lmdb_error("mdb_txn_begin", rc);
      return false;
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      MDB_val key{keys[i].size(), const_cast<char*>(keys[i].data())};
      MDB_val value;
      rc = mdb_get(txn, dbi_, &key, &value);
      if (rc == 0) {
        consumer.consume(i,
                         std::string_view(static_cast<const char*>(value.mv_data), value.mv_size));
      } else if (rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        *error = lmdb_error("mdb_get", rc);
        return false;
      }
    }
    mdb_txn_abort(txn);  // a read-only transaction ends with abort
    return true;
  }

  bool get_one(std::string_view key_bytes, uint64_t* sink) override {
    // A read transaction per lookup, as a cache serving one hit would use;
    // the thread's reader slot is reused, so begin/abort stay cheap.
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) != 0) return false;
    MDB_val key{key_bytes.size(), const_cast<char*>(key_bytes.data())};
    MDB_val value;
    const bool hit = mdb_get(txn, dbi_, &key, &value) == 0;
    if (hit) *sink += value.mv_size;
    mdb_txn_abort(txn);
    return hit;
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

}  // namespace

std::unique_ptr<KvStore> open_lmdb_store(const std::string& path, std::string* error) {
  auto store = std::make_unique<LmdbStore>();
  if (!store->open(path, error)) return nullptr;
  return store;
}

}  // namespace bench
