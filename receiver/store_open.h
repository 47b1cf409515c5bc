// The object store [store] asks for: FilesystemStore (the default) or S3Store.
#pragma once

#include <memory>

#include "receiver/config.h"
#include "receiver/object_store.h"

namespace granary::receiver {

Result<std::unique_ptr<ObjectStore>> OpenObjectStore(Env& env, const ReceiverConfig& config);

}  // namespace granary::receiver
