// SQLite as a kernel cache (MIOpen's choice): one table
//   cache(key BLOB PRIMARY KEY, value BLOB)
// in WAL mode with synchronous=FULL, so a committed batch is durable when the
// commit returns, as an rtcache save is (synchronous=NORMAL in WAL mode skips
// the fsync at commit and may lose the last batches on power loss; that would
// compare a non-durable save against durable ones). Default page size and
// auto-checkpoint, as an application would ship it.
#include <sqlite3.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kv_store.h"

namespace bench {

namespace {

// One connection with its prepared statements. SQLite connections are not
// shared between threads here: get_one opens one per thread.
class Connection {
 public:
  ~Connection() {
    sqlite3_finalize(insert_);
    sqlite3_finalize(select_);
    sqlite3_close(db_);  // the last connection checkpoints and removes the WAL
  }

  bool open(const std::string& path, std::string* error) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      return fail("open " + path, error);
    }
    // Concurrent writers (workload 5) wait for each other instead of failing.
    sqlite3_busy_timeout(db_, 60'000);
    if (!exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", error)) return false;
    if (!exec("CREATE TABLE IF NOT EXISTS cache(key BLOB PRIMARY KEY, value BLOB)", error))
      return false;
    if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO cache(key, value) VALUES(?, ?)", -1,
                           &insert_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_, "SELECT value FROM cache WHERE key = ?", -1, &select_, nullptr) !=
            SQLITE_OK) {
      return fail("prepare", error);
    }
    return true;
  }

  bool exec(const char* sql, std::string* error) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      *error = std::string(sql) + ": " + (message ? message : "?");
      sqlite3_free(message);
      return false;
    }
    return true;
  }

  bool put_batch(const std::vector<Entry>& entries, std::string* error) {
    // IMMEDIATE takes the write lock up front, so a busy writer waits in the
    // busy handler instead of failing at the first insert.
    if (!exec("BEGIN IMMEDIATE", error)) return false;
    for (const Entry& entry : entries) {
      sqlite3_bind_blob(insert_, 1, entry.key.data(), static_cast<int>(entry.key.size()),
                        SQLITE_STATIC);
      sqlite3_bind_blob(insert_, 2, entry.value.data(), static_cast<int>(entry.value.size()),
                        SQLITE_STATIC);
      const int rc = sqlite3_step(insert_);
      sqlite3_reset(insert_);
      if (rc != SQLITE_DONE) {
        fail("insert", error);
        exec("ROLLBACK", error);
        return false;
      }
    }
    return exec("COMMIT", error);
  }

  // Looks `key` up; calls `found` with the value while it is valid.
  template <typename Found>
  bool get(std::string_view key, Found&& found, std::string* error) {
    sqlite3_bind_blob(select_, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(select_);
    if (rc == SQLITE_ROW) {
      const void* data = sqlite3_column_blob(select_, 0);
      const int size = sqlite3_column_bytes(select_, 0);
      found(std::string_view(static_cast<const char*>(data), static_cast<size_t>(size)));
    }
    sqlite3_reset(select_);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail("select", error);
    return true;
  }

 private:
  bool fail(const std::string& what, std::string* error) {
    *error = what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
    return false;
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* select_ = nullptr;
};

class SqliteStore final : public KvStore {
 public:
  explicit SqliteStore(std::string path) : path_(std::move(path)) {}

  bool open(std::string* error) { return main_.open(path_, error); }

  bool put_batch(const std::vector<Entry>& entries, std::string* error) override {
    return main_.put_batch(entries, error);
  }

  bool get_batch(const std::vector<std::string>& keys, ValueConsumer& consumer,
                 std::string* error) override {
    // One read transaction: one snapshot for the whole batch.
    if (!main_.exec("BEGIN", error)) return false;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!main_.get(
              keys[i], [&](std::string_view value) { consumer.consume(i, value); }, error)) {
        main_.exec("ROLLBACK", error);
        return false;
      }
    }
    return main_.exec("COMMIT", error);
  }

  bool get_one(std::string_view key, uint64_t* sink) override {
    // A connection per thread, opened on first use and kept (a warm process);
    // each lookup is its own implicit read transaction.
    thread_local std::unique_ptr<Connection> connection;
    thread_local const SqliteStore* owner = nullptr;
    if (owner != this) {
      std::string error;
      connection = std::make_unique<Connection>();
      if (!connection->open(path_, &error)) return false;
      owner = this;
    }
    bool hit = false;
    std::string error;
    connection->get(
        key,
        [&](std::string_view value) {
          *sink += value.size();
          hit = true;
        },
        &error);
    return hit;
  }

 private:
  std::string path_;
  Connection main_;
};

}  // namespace

std::unique_ptr<KvStore> open_sqlite_store(const std::string& path, std::string* error) {
  auto store = std::make_unique<SqliteStore>(path);
  if (!store->open(error)) return nullptr;
  return store;
}

}  // namespace bench
