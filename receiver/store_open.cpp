#include "receiver/store_open.h"

#include "receiver/fs_store.h"
#include "receiver/s3_store.h"

namespace granary::receiver {

Result<std::unique_ptr<ObjectStore>> OpenObjectStore(Env& env, const ReceiverConfig& config) {
  std::unique_ptr<ObjectStore> store;
  if (config.store.type == "s3") {
    auto s3 = S3Store::Open(env, config.data_dir, config.store);
    if (!s3) return s3.error();
    store = std::move(*s3);
  } else {
    auto fs = FilesystemStore::Open(env, config.data_dir);
    if (!fs) return fs.error();
    store = std::move(*fs);
  }
  store->LimitQuarantine(config.store.quarantine_max_bytes);
  return store;
}

}  // namespace granary::receiver
