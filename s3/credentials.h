// S3 credentials: from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN) or an AWS-style INI credentials file, which must not be readable by
// group or others (mode 0600 or 0400): the agent refuses to start otherwise.
// Never log a Credentials value; Redacted() is the only printable form.
#pragma once

#include <string>

#include "platform/result.h"

namespace granary {

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // empty: long-term credentials
  // "AKID…(env)" style text for logs and check-config: the key id's first 4 characters.
  std::string Redacted() const;
};

// `file` empty: the environment. `profile` empty: "default".
Result<Credentials> LoadCredentials(const std::string& file, const std::string& profile);

}  // namespace granary
