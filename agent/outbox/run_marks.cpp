// The run watcher's durable marks. A file per watcher in the state dir rather than the
// buffer's SQLite: the buffer's schema belongs to the storage layer, and a mark is a few
// bytes rewritten once per run, which an atomic rename does as safely.
#include <cjson/cJSON.h>
#include <openssl/rand.h>

#include <cstdlib>

#include "agent/outbox/run_watcher.h"
#include "platform/crypto.h"
#include "platform/handles.h"

namespace granary {

Status RunWatcher::LoadMarks() {
  if (!env_.FileExists(marks_path_)) {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) std::abort();
    salt_ = HexEncode(std::string_view(reinterpret_cast<const char*>(b), sizeof b));
    return Status::Ok();
  }
  auto text = env_.ReadFile(marks_path_, 16 << 20);
  if (!text) return text.error();
  // A damaged mark stops this watcher: guessing could submit runs twice or skip some.
  const std::string damaged = marks_path_ +
                              " is damaged; fix or remove it (removing it makes "
                              "the next start a first start)";
  CjsonPtr root(cJSON_ParseWithLength(text->data(), text->size()));
  const cJSON* salt = cJSON_GetObjectItemCaseSensitive(root.get(), "salt");
  const cJSON* all = cJSON_GetObjectItemCaseSensitive(root.get(), "instruments");
  if (!cJSON_IsString(salt) || !cJSON_IsObject(all)) return Error(damaged);
  salt_ = salt->valuestring;
  for (const cJSON* i = all->child; i != nullptr; i = i->next) {
    const cJSON* last = cJSON_GetObjectItemCaseSensitive(i, "last");
    const cJSON* pending = cJSON_GetObjectItemCaseSensitive(i, "pending");
    if (!cJSON_IsNumber(last) || last->valuedouble < 0 ||
        (pending != nullptr && !cJSON_IsNumber(pending)))
      return Error(damaged);
    Instrument& state = instruments_[i->string];
    state.marked = true;
    state.last_submitted = state.queued_to = static_cast<uint64_t>(last->valuedouble);
    if (pending != nullptr) state.pending_commit = static_cast<uint64_t>(pending->valuedouble);
  }
  return Status::Ok();
}

Status RunWatcher::SaveMarks() {
  CjsonPtr root(cJSON_CreateObject());
  cJSON_AddStringToObject(root.get(), "salt", salt_.c_str());
  cJSON* all = cJSON_AddObjectToObject(root.get(), "instruments");
  for (const auto& [name, state] : instruments_) {
    if (!state.marked) continue;
    cJSON* i = cJSON_AddObjectToObject(all, name.c_str());
    cJSON_AddNumberToObject(i, "last", static_cast<double>(state.last_submitted));
    if (state.pending_commit)
      cJSON_AddNumberToObject(i, "pending", static_cast<double>(*state.pending_commit));
  }
  CjsonString text(cJSON_PrintUnformatted(root.get()));
  const std::string dir = marks_path_.substr(0, marks_path_.rfind('/'));
  const std::string tmp = marks_path_ + ".tmp";
  if (Status s = env_.CreateDirs(dir); !s) return s;
  auto file = env_.NewWritableFile(tmp);
  if (!file) return file.error();
  Status s = (*file)->Append(std::string(text.get()) + "\n");
  if (s) s = (*file)->Sync();
  if (s) s = (*file)->Close();
  if (s) s = env_.RenameFile(tmp, marks_path_);
  if (s) s = env_.SyncDir(dir);
  return s;
}

}  // namespace granary
