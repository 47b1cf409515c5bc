// Owner of a libbson document (see handles.h for the rule). bson_t is over-aligned, which a
// std::unique_ptr template argument cannot carry, so the owner holds it inline.
#pragma once

#include <bson/bson.h>

namespace granary {

class BsonDocument {
 public:
  BsonDocument() { bson_init(&doc_); }
  ~BsonDocument() { bson_destroy(&doc_); }
  BsonDocument(const BsonDocument&) = delete;
  BsonDocument& operator=(const BsonDocument&) = delete;
  bson_t* get() { return &doc_; }

 private:
  bson_t doc_;
};

}  // namespace granary
