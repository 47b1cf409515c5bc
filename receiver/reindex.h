// The index rebuilt from the store: the restore path after a lost or emptied database.
// An index that lists fewer accepted files than the store holds would let ingest take a
// key whose bytes are already there and would under-report coverage, so `run` refuses
// ingest until `reindex` has brought it level.
#pragma once

#include <string>
#include <vector>

#include "platform/env.h"
#include "platform/result.h"
#include "receiver/config.h"
#include "receiver/index.h"
#include "receiver/object_store.h"

namespace granary::receiver {

// Why the index is behind the store ("" when it lists every file in accepted/). A file
// that a sealed quarantine entry names is not behind: it was placed before its index
// commit, and Recover() indexes it.
Result<std::string> IndexBehindStore(Index& index, ObjectStore& store);

struct ReindexReport {
  size_t files = 0, indexed = 0, already = 0;
  std::vector<std::string> problems;  // "bucket/key: why", each file left unindexed
};

// Every file in accepted/ is validated again and, when the index lacks it, recorded as an
// upload of it would be (coverage merged, counters raised). Files are never moved or
// changed. The user metadata of a segment is lost with the database: it is rebuilt from
// the lines or documents (granary-device, -source, -first-seq, -last-seq, -count, -format),
// and an archive segment's messages are indexed again from its documents; the
// Content-Type is the agent's, application/octet-stream. Reports and files are indexed
// again from their keys and bytes; one of a kind with an external validator is pending
// again (the decision was in the lost database) and its validator is asked again.
Result<ReindexReport> Reindex(Env& env, Index& index, const ObjectStore& store,
                              const ReceiverConfig& config);

}  // namespace granary::receiver
