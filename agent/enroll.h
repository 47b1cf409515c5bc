// `granary enroll`: trade a one-time token from `granary-receiver device add NAME --enroll`
// for this device's S3 key, over TLS, and write what the agent needs to upload.
#pragma once

#include <string>

namespace granary {

struct EnrollOptions {
  std::string receiver_url;  // https://host[:port]; also the upload endpoint
  std::string token;
  std::string ca_file;      // "": the system's CAs
  std::string config_path;  // the main config; credentials and conf.d/ go beside it
};

// Writes {dir}/s3.credentials (0600) and {dir}/conf.d/upload.toml, prints what it did and
// the [upload] section. 0 done; 1 failed (nothing half-written); 2 bad arguments.
int RunEnroll(const EnrollOptions& options);

}  // namespace granary
