// The registry over a SqlConnection, one SQL text for SQLite and PostgreSQL like the index.
#include "receiver/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "platform/crypto.h"
#include "receiver/sql_connection.h"

namespace granary::receiver {
namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS registry_devices (
  name TEXT PRIMARY KEY, state TEXT NOT NULL, created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS registry_keys (
  access_key TEXT PRIMARY KEY, device TEXT NOT NULL, secret TEXT NOT NULL,
  created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS registry_enroll (
  token_sha256 TEXT PRIMARY KEY, device TEXT NOT NULL, expires_ms BIGINT NOT NULL,
  used_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS registry_generation (id INTEGER PRIMARY KEY, generation BIGINT NOT NULL);
INSERT INTO registry_generation (id, generation) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
)";

// Keys look like AWS's (20 upper-case characters) so tools that check the shape take them.
std::string NewAccessKey() {
  std::string hex = HexEncode(RandomBytes(9));
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return "GK" + hex;
}

// 40 characters of URL-safe base64: no '=', '+' or '/' to quote in an INI or TOML file.
std::string NewSecret() {
  std::string s = Base64Encode(RandomBytes(30));
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

class SqlRegistry final : public DeviceRegistry {
 public:
  SqlRegistry(std::unique_ptr<SqlConnection> db, SecretBox box)
      : db_(std::move(db)), box_(std::move(box)) {}

  Status CreateSchema() {
    std::lock_guard<std::mutex> lock(mu_);
    bool pg = db_->dialect() == SqlDialect::kPostgres;
    // Replicas starting together must not race on CREATE (as the index does).
    if (pg) {
      if (Status s = db_->ExecScript("SELECT pg_advisory_lock(4711002)"); !s) return s;
    }
    Status s = db_->ExecScript(kSchema);
    if (pg) (void)db_->ExecScript("SELECT pg_advisory_unlock(4711002)");
    return s;
  }

  Result<IssuedKey> Add(const std::string& name, int64_t now_ms) override {
    if (!IsDeviceName(name)) {
      return Error("device name \"" + name + "\" must be 1-64 of A-Z a-z 0-9 _ - .");
    }
    std::lock_guard<std::mutex> lock(mu_);
    return Change([&]() -> Result<IssuedKey> {
      auto state = State(name);
      if (!state) return state.error();
      if (!state->empty() && *state != "revoked") {
        return Error("device " + name + " exists (" + *state + "); rotate its key instead");
      }
      Status s = db_->Exec(
          "INSERT INTO registry_devices (name, state, created_ms, updated_ms) VALUES (?, "
          "'enabled', ?, ?) ON CONFLICT (name) DO UPDATE SET state = 'enabled', updated_ms = ?",
          {name, now_ms, now_ms, now_ms});
      if (!s) return s.error();
      return NewKey(name, now_ms);
    });
  }

  Result<IssuedKey> Rotate(const std::string& name, std::chrono::milliseconds grace,
                           int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Change([&]() -> Result<IssuedKey> {
      if (Status s = MustBeLive(name); !s) return s.error();
      int64_t until = now_ms + grace.count();
      // Keys already ending sooner keep their end; a key past it is gone for good.
      Status s = db_->Exec(
          "UPDATE registry_keys SET expires_ms = ? WHERE device = ? AND (expires_ms = 0 OR "
          "expires_ms > ?)",
          {until, name, until});
      if (s) {
        s = db_->Exec("DELETE FROM registry_keys WHERE expires_ms <> 0 AND expires_ms <= ?",
                      {now_ms});
      }
      if (!s) return s.error();
      return NewKey(name, now_ms);
    });
  }

  Status Revoke(const std::string& name, int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto r = Change([&]() -> Result<bool> {
      if (Status s = MustBeLive(name); !s) return s.error();
      Status s = db_->Exec("DELETE FROM registry_keys WHERE device = ?", {name});
      if (s) s = db_->Exec("DELETE FROM registry_enroll WHERE device = ?", {name});
      if (s) s = SetState(name, "revoked", now_ms);
      if (!s) return s.error();
      return true;
    });
    if (!r) return r.error();
    return Status::Ok();
  }

  Status SetEnabled(const std::string& name, bool enabled, int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto r = Change([&]() -> Result<bool> {
      if (Status s = MustBeLive(name); !s) return s.error();
      if (Status s = SetState(name, enabled ? "enabled" : "disabled", now_ms); !s) return s.error();
      return true;
    });
    if (!r) return r.error();
    return Status::Ok();
  }

  Result<std::vector<RegisteredDevice>> List(int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto devices = db_->Query(
        "SELECT name, state, created_ms, updated_ms FROM registry_devices ORDER BY name");
    if (!devices) return devices.error();
    std::vector<RegisteredDevice> out;
    for (const SqlRow& r : *devices) {
      RegisteredDevice d{r.Text(0), r.Text(1), r.Int(2), r.Int(3), {}, 0};
      auto keys = db_->Query(
          "SELECT access_key, expires_ms FROM registry_keys WHERE device = ? AND (expires_ms = 0 "
          "OR expires_ms > ?) ORDER BY created_ms DESC, access_key",
          {d.name, now_ms});
      if (!keys) return keys.error();
      for (const SqlRow& k : *keys) {
        d.access_keys.push_back(k.Text(0));
        d.grace_until_ms = std::max(d.grace_until_ms, k.Int(1));
      }
      out.push_back(std::move(d));
    }
    return out;
  }

  Result<std::string> CreateEnrollToken(const std::string& name, std::chrono::milliseconds ttl,
                                        int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Change([&]() -> Result<std::string> {
      if (Status s = MustBeLive(name); !s) return s.error();
      std::string token = "gre_" + HexEncode(RandomBytes(24));
      Status s = db_->Exec(
          "INSERT INTO registry_enroll (token_sha256, device, expires_ms, used_ms) VALUES (?, ?, "
          "?, 0)",
          {Sha256Hex(token), name, now_ms + ttl.count()});
      if (!s) return s.error();
      return token;
    });
  }

  Result<IssuedKey> Enroll(const std::string& token, int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    // The endpoint takes guesses from anyone: a guess costs a read, never a write
    // transaction on the database ingest writes to.
    auto live = db_->Query(
        "SELECT 1 FROM registry_enroll WHERE token_sha256 = ? AND used_ms = 0 AND expires_ms > ?",
        {Sha256Hex(token), now_ms});
    if (!live) return live.error();
    if (live->empty()) return Error("invalid or expired enrollment token");
    return Change([&]() -> Result<IssuedKey> {
      // One UPDATE spends the token: two replicas racing on it cannot both succeed.
      auto spent = db_->Query(
          "UPDATE registry_enroll SET used_ms = ? WHERE token_sha256 = ? AND used_ms = 0 AND "
          "expires_ms > ? RETURNING device",
          {now_ms, Sha256Hex(token), now_ms});
      if (!spent) return spent.error();
      if (spent->empty()) return Error("invalid or expired enrollment token");
      std::string device = spent->front().Text(0);
      auto key = db_->Query(
          "SELECT k.access_key, k.secret FROM registry_keys k JOIN registry_devices d ON "
          "d.name = k.device WHERE k.device = ? AND d.state = 'enabled' AND k.expires_ms = 0 "
          "ORDER BY k.created_ms DESC LIMIT 1",
          {device});
      if (!key) return key.error();
      if (key->empty()) return Error("invalid or expired enrollment token");
      auto secret = box_.Open(key->front().Text(1), key->front().Text(0));
      if (!secret) return secret.error().Wrap("registry key " + key->front().Text(0));
      return IssuedKey{device, key->front().Text(0), std::move(*secret)};
    });
  }

  Result<int64_t> Generation() override {
    std::lock_guard<std::mutex> lock(mu_);
    auto r = db_->Query("SELECT generation FROM registry_generation WHERE id = 1");
    if (!r) return r.error();
    return r->empty() ? 0 : r->front().Int(0);
  }

  Result<std::vector<DeviceKey>> Keys(int64_t now_ms) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto rows = db_->Query(
        "SELECT k.access_key, k.device, k.secret, k.expires_ms, d.state FROM registry_keys k "
        "JOIN registry_devices d ON d.name = k.device WHERE d.state <> 'revoked' AND "
        "(k.expires_ms = 0 OR k.expires_ms > ?) ORDER BY k.access_key",
        {now_ms});
    if (!rows) return rows.error();
    std::vector<DeviceKey> keys;
    for (const SqlRow& r : *rows) {
      auto secret = box_.Open(r.Text(2), r.Text(0));
      if (!secret) return secret.error().Wrap("registry key " + r.Text(0));
      keys.push_back(
          DeviceKey{r.Text(1), r.Text(0), std::move(*secret), r.Int(3), r.Text(4) == "disabled"});
    }
    return keys;
  }

 private:
  // Runs `body` in a write transaction that also bumps the generation.
  template <typename F>
  auto Change(F body) -> decltype(body()) {
    if (Status s = db_->Begin(); !s) return s.error();
    auto r = body();
    Status s = r ? db_->Exec(
                       "UPDATE registry_generation SET generation = generation + 1 WHERE "
                       "id = 1")
                 : Status::Ok();
    if (r && s) s = db_->Commit();
    if (!r || !s) {
      db_->Rollback();
      if (!s) return s.error();
    }
    return r;
  }

  Result<std::string> State(const std::string& name) {
    auto r = db_->Query("SELECT state FROM registry_devices WHERE name = ?", {name});
    if (!r) return r.error();
    return r->empty() ? std::string() : r->front().Text(0);
  }

  Status MustBeLive(const std::string& name) {
    auto state = State(name);
    if (!state) return state.error();
    if (state->empty()) return Error("no device " + name + " in the registry");
    if (*state == "revoked") return Error("device " + name + " is revoked; add it again");
    return Status::Ok();
  }

  Status SetState(const std::string& name, const char* state, int64_t now_ms) {
    return db_->Exec("UPDATE registry_devices SET state = ?, updated_ms = ? WHERE name = ?",
                     {std::string(state), now_ms, name});
  }

  Result<IssuedKey> NewKey(const std::string& name, int64_t now_ms) {
    IssuedKey k{name, NewAccessKey(), NewSecret()};
    Status s = db_->Exec(
        "INSERT INTO registry_keys (access_key, device, secret, created_ms, expires_ms) VALUES "
        "(?, ?, ?, ?, 0)",
        {k.access_key, name, box_.Seal(k.secret_key, k.access_key), now_ms});
    if (!s) return s.error();
    return k;
  }

  std::mutex mu_;
  std::unique_ptr<SqlConnection> db_;
  SecretBox box_;
};

}  // namespace

Result<std::unique_ptr<DeviceRegistry>> DeviceRegistry::Open(Env& env, const ReceiverConfig& config,
                                                             SecretBox box) {
  Result<std::unique_ptr<SqlConnection>> conn = config.index == "sqlite"
                                                    ? OpenSqliteConnection(env, config.IndexPath())
                                                    : OpenPostgresConnection(config.index);
  if (!conn) return conn.error().Wrap("registry");
  auto registry = std::make_unique<SqlRegistry>(std::move(*conn), std::move(box));
  if (Status s = registry->CreateSchema(); !s) return s.error().Wrap("registry schema");
  return std::unique_ptr<DeviceRegistry>(std::move(registry));
}

}  // namespace granary::receiver
