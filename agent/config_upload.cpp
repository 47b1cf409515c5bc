// [upload]: where sealed segments go. Credentials never live in this file: they come from
// the environment or from a private credentials file, checked here so a bad file stops the
// agent at start (exit 78) instead of failing every upload later.
#include <fmt/format.h>

#include "agent/config_sections.h"
#include "agent/upload/object_key.h"
#include "config/units.h"
#include "s3/credentials.h"

namespace granary::config_detail {

using namespace std::chrono_literals;

void ReadUpload(ConfigReader& root, AgentConfig& c) {
  UploadConfig& u = c.upload;
  const UploadConfig d;
  u.enabled = root.Has("upload");
  if (!u.enabled) return;
  ConfigReader r = Section(root, "upload");
  size_t errors = ErrorCount(r);
  u.s3.endpoint = r.RequiredString("endpoint");
  if (ErrorCount(r) == errors && u.s3.endpoint.rfind("http://", 0) != 0 &&
      u.s3.endpoint.rfind("https://", 0) != 0) {
    r.Fail("endpoint",
           fmt::format("must start with http:// or https:// (got {})", TomlQuote(u.s3.endpoint)));
  }
  if (!u.s3.endpoint.empty() && u.s3.endpoint.back() == '/') u.s3.endpoint.pop_back();
  u.s3.bucket = r.RequiredString("bucket");
  u.s3.region = r.String("region", d.s3.region);
  u.prefix = r.String("prefix", d.prefix);
  if (u.prefix.size() > 256) r.Fail("prefix", "must be at most 256 bytes");
  errors = ErrorCount(r);
  u.key_template = r.String("key_template", kDefaultKeyTemplate);
  if (ErrorCount(r) == errors) {
    if (Status s = ValidateKeyTemplate(u.key_template); !s)
      r.Fail("key_template", s.error().message());
  }
  u.report_key_template = r.String("report_key_template", kDefaultReportKeyTemplate);
  if (Status s = ValidateOutboxKeyTemplate(u.report_key_template, /*file=*/false); !s)
    r.Fail("report_key_template", s.error().message());
  u.file_key_template = r.String("file_key_template", kDefaultFileKeyTemplate);
  if (Status s = ValidateOutboxKeyTemplate(u.file_key_template, /*file=*/true); !s)
    r.Fail("file_key_template", s.error().message());
  u.s3.path_style = r.Enum("addressing", "path", {"path", "virtual"}) == "path";
  u.credentials_file = r.String("credentials_file", "");
  u.profile = r.String("profile", d.profile);
  if (!u.credentials_file.empty()) {
    // Mode, profile and keys are checked now; the values are read again at start and on
    // every reload, so a fixed file plus SIGHUP recovers from wrong credentials.
    if (auto creds = LoadCredentials(u.credentials_file, u.profile); !creds) {
      r.Fail("credentials_file", creds.error().message());
    }
  }
  u.s3.ca_file = r.String("ca_file", "");
  u.s3.tls_verify = r.Bool("tls_verify", d.s3.tls_verify);
  u.s3.proxy = r.String("proxy", "");
  u.s3.connect_timeout = r.Duration("connect_timeout", d.s3.connect_timeout, 100ms);
  u.s3.stall_timeout = r.Duration("stall_timeout", d.s3.stall_timeout, 1s);
  u.s3.max_send_bytes_per_s = r.Size("max_bandwidth", 0, 0);
  if (u.s3.max_send_bytes_per_s != 0 && u.s3.max_send_bytes_per_s < 1024) {
    r.Fail("max_bandwidth", "must be 0 (no cap) or at least 1KiB (per second)");
  }
  errors = ErrorCount(r);
  u.retry_min = r.Duration("retry_min", d.retry_min, 10ms);
  u.retry_max = r.Duration("retry_max", d.retry_max, 10ms);
  if (ErrorCount(r) == errors && u.retry_max < u.retry_min) {
    r.Fail("retry_max", fmt::format("must be at least retry_min, {}", FormatDuration(u.retry_min)));
  }
  u.permanent_retry = r.Duration("permanent_retry", d.permanent_retry, 10ms);
  u.keep_uploaded = r.Duration("keep_uploaded", d.keep_uploaded, 0ms);
  u.stale_after = r.Duration("stale_after", d.stale_after, 1s);
  // S3 refuses parts below 5 MiB (but the last) and more than 10000 parts (80 GB at 8 MiB).
  u.part_size = r.Size("part_size", d.part_size, 5ULL << 20);
  if (u.part_size > (5ULL << 30)) r.Fail("part_size", "must be at most 5GiB (S3's part limit)");
  u.multipart_max_age = r.Duration("multipart_max_age", d.multipart_max_age, 1s);
  r.Finish();
}

namespace {

// A proxy URL may carry a password: http://user:secret@proxy:3128.
std::string MaskUserInfo(const std::string& url) {
  size_t scheme = url.find("://");
  size_t at = url.rfind('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  return url.substr(0, scheme + 3) + "***" + url.substr(at);
}

}  // namespace

std::string RenderUpload(const AgentConfig& c) {
  const UploadConfig& u = c.upload;
  if (!u.enabled) return "\n# [upload] absent: segments are sealed and kept, never uploaded\n";
  auto dur = [](std::chrono::milliseconds ms) { return TomlQuote(FormatDuration(ms)); };
  return fmt::format(
      "\n[upload]\nendpoint = {}\nbucket = {}\nregion = {}\nprefix = {}\nkey_template = {}\n"
      "addressing = {}\ncredentials_file = {}\nprofile = {}\nca_file = {}\ntls_verify = {}\n"
      "proxy = {}\nconnect_timeout = {}\nstall_timeout = {}\nmax_bandwidth = {}\n"
      "retry_min = {}\nretry_max = {}\npermanent_retry = {}\nkeep_uploaded = {}\n"
      "stale_after = {}\npart_size = {}\nmultipart_max_age = {}\nreport_key_template = {}\n"
      "file_key_template = {}\n",
      TomlQuote(u.s3.endpoint), TomlQuote(u.s3.bucket), TomlQuote(u.s3.region), TomlQuote(u.prefix),
      TomlQuote(u.key_template), TomlQuote(u.s3.path_style ? "path" : "virtual"),
      TomlQuote(u.credentials_file), TomlQuote(u.profile), TomlQuote(u.s3.ca_file), u.s3.tls_verify,
      TomlQuote(MaskUserInfo(u.s3.proxy)), dur(u.s3.connect_timeout), dur(u.s3.stall_timeout),
      TomlQuote(FormatSize(u.s3.max_send_bytes_per_s)), dur(u.retry_min), dur(u.retry_max),
      dur(u.permanent_retry), dur(u.keep_uploaded), dur(u.stale_after),
      TomlQuote(FormatSize(u.part_size)), dur(u.multipart_max_age),
      TomlQuote(u.report_key_template), TomlQuote(u.file_key_template));
}

}  // namespace granary::config_detail
