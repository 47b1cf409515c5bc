// Archived messages read back from the accepted archive segments the index points at: the
// API's /messages/{id}/bson, `verify` and `restore`.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "platform/result.h"
#include "receiver/index.h"
#include "receiver/object_store.h"

namespace granary::receiver {

// The exact BSON document of `row`: at its recorded offset and length, holding its _id. An
// error names what disagrees (the file changed under the index).
Result<std::string> ReadMessageDocument(const ObjectStore& store, const MessageRow& row,
                                        uint32_t max_document_bytes);

// One pass over a segment for `rows` (its messages, in seq order): `visit` gets each row with
// its document; a row whose document is not where the index says is a problem, listed, and
// the pass goes on. An error only when the file cannot be read at all.
Result<std::vector<std::string>> WalkSegmentMessages(
    const ObjectStore& store, const std::string& bucket, const std::string& key,
    const std::vector<MessageRow>& rows, uint32_t max_document_bytes,
    const std::function<void(const MessageRow&, std::string_view document)>& visit);

}  // namespace granary::receiver
