// Reading a secret from a file only its owner can read.
#pragma once

#include <string>

#include "platform/result.h"

namespace granary {

// The content of `path`, which must be a regular file of mode 0600 or 0400 (no group or
// other bits): a secret others can read is already leaked, so it is refused. One trailing
// newline is dropped. Errors name `what` and the path but never the content.
Result<std::string> ReadPrivateFile(const std::string& path, const std::string& what);

}  // namespace granary
