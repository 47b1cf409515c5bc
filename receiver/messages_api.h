// GET /api/v1/messages (the index, paginated), /api/v1/messages/{id} (one message as JSON),
// /api/v1/messages/{id}/bson (its stored document) and /api/v1/messages/{id}/payload (its
// payload bytes). docs/receiver.md "Archived messages".
#pragma once

#include <string>

#include "receiver/context.h"

namespace granary::receiver {

// `path` is decoded and starts with /api/v1/messages; the caller checked the reader token.
HttpResponse MessagesAnswer(ReceiverContext& ctx, const std::string& path,
                            const std::string& raw_query);

}  // namespace granary::receiver
