// HTTP byte ranges (RFC 9110 section 14) of stored objects, for the files API and the S3 GET:
// one "bytes=" range, answered 206 from a reader that fetches only that range.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "receiver/http_server.h"
#include "receiver/object_store.h"

namespace granary::receiver {

struct ByteRange {
  uint64_t first = 0, last = 0;
};

// A single "bytes=a-b", "bytes=a-" or "bytes=-n" range of a `size`-byte body as
// [first, last]; nullopt when the header is absent, malformed or names several ranges (the
// whole body is sent, as RFC 9110 allows). `unsatisfiable` is set when it cannot be served
// (it starts past the end, or asks the last bytes of an empty body): a 416.
std::optional<ByteRange> ParseRange(const std::string& header, uint64_t size, bool* unsatisfiable);

// The Content-Range value: "bytes FIRST-LAST/SIZE" for a part (206), "bytes */SIZE" for
// none (416).
std::string ContentRange(std::optional<ByteRange> part, uint64_t size);

// Makes `reader`'s bytes [first, last] (all of them without a range) the body of `r`: a
// local file is sent from its descriptor, a remote object streams in bounded windows as the
// client takes it.
void SetObjectBody(std::unique_ptr<ObjectReader> reader, std::optional<ByteRange> range,
                   HttpResponse* r);

}  // namespace granary::receiver
