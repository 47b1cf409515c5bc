// Writing reports and files into an outbox the way its producer contract asks (docs/runs.md):
// attachments first, into `.<uuid>.incoming/` renamed to `<uuid>/` (or one by one into an
// existing `<uuid>/`), then the report as `.<uuid>.json.tmp` renamed to `<uuid>.json`, each
// fsynced before its rename and the directory after it. `granary submit` and the run
// watchers share this code; neither uploads anything, the outbox watcher does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/outbox/uuid.h"
#include "platform/result.h"

namespace granary {

// sysexits.h codes `granary submit` exits with (docs/runs.md); 78 is kExitConfig.
inline constexpr int kExitDataErr = 65;    // invalid JSON or report, bad attachment name
inline constexpr int kExitNoInput = 66;    // a missing or unreadable input file
inline constexpr int kExitCantCreat = 73;  // the outbox is full or cannot be written

// `[A-Za-z0-9][A-Za-z0-9._-]{0,199}`: an attachment's name, the last part of its key.
bool ValidFileName(std::string_view name);

// A file to attach, inspected (a readable regular file) and hashed.
struct Attachment {
  std::string path;  // where it is now
  std::string name;  // its name in the outbox
  uint64_t size = 0;
  std::string sha256;  // lowercase hex
};
// Errors mean kExitNoInput, except a name that breaks ValidFileName (kExitDataErr, said so).
Result<Attachment> InspectAttachment(const std::string& path, std::string name = "");

struct ReportRequest {
  std::string_view text;     // the report: one JSON object
  std::string kind;          // --kind; empty: the report's, else default_kind
  std::string uuid;          // --uuid; empty: the report's, else a new one
  std::string default_kind;  // the outbox's
};
struct PreparedReport {
  std::string uuid;
  std::string kind;
  std::string json;  // with uuid, kind and the attachments in `files`
};
// Validates the report and completes it: uuid, kind, and a `files` entry (name, size,
// sha256) per attachment, replacing one of the same name. Errors mean kExitDataErr.
Result<PreparedReport> PrepareReport(const ReportRequest& request,
                                     const std::vector<Attachment>& attachments);

// Steps of writing into the outbox directory `dir`. Errors mean kExitCantCreat.
class OutboxWriter {
 public:
  explicit OutboxWriter(std::string dir) : dir_(std::move(dir)) {}

  // The directory exists and holds `report_bytes` plus the attachments that must be copied
  // (those on another filesystem) plus `margin` free; "full" otherwise.
  Status CheckSpace(const std::vector<Attachment>& attachments, uint64_t report_bytes,
                    uint64_t margin) const;
  // Attachments first: into a new `.<uuid>.incoming/` renamed to `<uuid>/`, or into an
  // existing `<uuid>/` one by one. A hard link when on the outbox's filesystem, else a copy.
  Status PlaceAttachments(const std::string& uuid, const std::vector<Attachment>& attachments);
  // Then the report: `.<uuid>.json.tmp`, fsync, rename to `<uuid>.json`, fsync the directory.
  Status PlaceReport(const std::string& uuid, const std::string& json);

  // The same steps split for a writer that records its progress between them (run
  // watchers): Stage* leave dot-names the outbox ignores, Commit* rename them in. Each is
  // idempotent, and Staged* say whether a stage still waits for its commit.
  Status StageReport(const std::string& uuid, const std::string& json);
  Status StageAttachments(const std::string& uuid, const std::vector<Attachment>& attachments);
  Status CommitAttachments(const std::string& uuid);
  Status CommitReport(const std::string& uuid);
  bool AttachmentsStaged(const std::string& uuid) const;
  bool ReportStaged(const std::string& uuid) const;
  Status CreateIncoming(const std::string& uuid);

  const std::string& dir() const { return dir_; }

 private:
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

}  // namespace granary
