// The index's report and file tables (private to index_sql.cpp): statements over a
// SqlConnection whose caller holds the index's lock and, for writes, a transaction.
#pragma once

#include <string>
#include <vector>

#include "receiver/index.h"
#include "receiver/sql_connection.h"

namespace granary::receiver {

// One row of the event log.
Status InsertEvent(SqlConnection& db, int64_t at_ms, const std::string& kind,
                   const std::string& device, const std::string& bucket, const std::string& key,
                   const std::string& detail);

class ReportSql {
 public:
  explicit ReportSql(SqlConnection& db) : db_(db) {}

  // The uuid (and name) under another key: a conflict's detail, else "" and the rows added.
  Result<std::string> InsertReport(const ObjectRow& object, const ReportFacts& facts, bool pending);
  Result<std::string> InsertFile(const ObjectRow& object, const FileFacts& facts, bool pending);

  Result<std::vector<ReportRow>> Reports(const ReportQuery& query);
  Result<std::vector<ReportAttachment>> ListedFiles(const std::string& uuid);
  Result<std::vector<FileRow>> Files(const std::string& uuid);
  Result<std::vector<PendingValidation>> DueValidations(int64_t now_ms, int limit);
  Status ValidationSent(const std::string& request_id, int64_t next_ms);
  Result<std::optional<PendingValidation>> DecideValidation(const std::string& request_id,
                                                            bool accept, const std::string& reason,
                                                            int64_t now_ms);
  // Whether CheckAttachments has anything to look at: a read, so that an idle receiver does
  // not take the write lock every second for nothing.
  Result<bool> AttachmentsDue(int64_t due_ms);
  Result<size_t> CheckAttachments(int64_t due_ms, int64_t now_ms);
  Result<std::vector<KindCount>> KindCounts();

 private:
  Status AddValidation(const std::string& what, const std::string& kind, const std::string& uuid,
                       const std::string& name, const std::string& device, const ObjectRow& object);

  SqlConnection& db_;
};

}  // namespace granary::receiver
