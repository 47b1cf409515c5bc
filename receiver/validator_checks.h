// Checks the jsonl and bson segment validators share (private to receiver/*validator.cpp and
// the fuzz target).
#pragma once

#include <string>

#include "archive/segment_reader.h"
#include "platform/crypto.h"
#include "platform/result.h"
#include "receiver/object_store.h"
#include "receiver/validator.h"

struct cJSON;

namespace granary::receiver::validator_checks {

Validation Reject(std::string reason);
// The source must be named by the key as a path segment or as "-{source}-" in the name.
bool KeyNamesSource(const std::string& key, const std::string& source);
// The end of a segment read as `n` lines or documents (`unit`): the reader's error, an empty
// segment, then count, clock and the metadata checks; v.ok when all hold.
Validation FinishSegment(Validation v, const ObjectMeta& meta, const Status& read, const char* unit,
                         uint64_t n, uint64_t raw_bytes, bool any_unsynced, bool any_synced,
                         StreamHasher* content);
// Validation of an archive segment (bson.gz/1) of `device` (bson_validator.cpp).
Validation ValidateBsonSegment(const std::string& path, const ObjectMeta& meta,
                               const std::string& device, const ValidatorLimits& limits);
// Its documents from `reader`, however opened; `content` has seen, or sees through the
// reader's observer, every decompressed byte.
Validation ValidateBsonDocuments(archive::SegmentReader& reader, const ObjectMeta& meta,
                                 const std::string& device, const ValidatorLimits& limits,
                                 StreamHasher* content);
// The checks after the last line or document: source named by the key, first/last seq and
// count as the metadata says, and the metadata's SHA-256 equal to the body's ("" when all hold).
std::string CheckSegmentMetadata(const ObjectMeta& meta, const SegmentFacts& facts);
// A report or file (report_validator.cpp); `rest` is the key after {prefix}/{device}/.
Validation ValidateReport(const std::string& path, const ObjectMeta& meta,
                          const std::string& device, const KeyParts& key,
                          const ValidatorLimits& limits);
Validation ValidateFile(const ObjectMeta& meta, const std::string& device, const KeyParts& key);
// The first name that appears twice in one object at any depth ("" when none).
std::string DuplicateKey(const cJSON* item);

}  // namespace granary::receiver::validator_checks
