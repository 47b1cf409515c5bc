// Writes one jsonl.gz segment through the Env, hashing the compressed bytes on the way
// (MD5 for Content-MD5, SHA-256 for x-amz-content-sha256), so the uploader never has to
// read a file twice.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "platform/crypto.h"
#include "platform/env.h"
#include "platform/handles.h"
#include "platform/result.h"

namespace granary {

struct SegmentDigest {
  uint64_t bytes = 0;      // compressed size
  uint64_t raw_bytes = 0;  // uncompressed size
  std::string md5_hex;
  std::string sha256_hex;
};

// The segment formats: JSON Lines for readings, BSON for archived MQTT messages.
inline constexpr std::string_view kJsonlFormat = "jsonl.gz";
inline constexpr std::string_view kBsonFormat = "bson.gz";

// "{device}-{source}-{yyyy}{mm}{dd}T{hh}-{first_seq}.{format}": the UTC hour of the first
// reading; first_seq makes it unique and stable across retries and restarts.
std::string SegmentFileName(std::string_view device, std::string_view source, int64_t first_ts_ms,
                            uint64_t first_seq, std::string_view format = kJsonlFormat);

// True for a sealed segment's file name of either format.
bool IsSegmentFileName(std::string_view name);

// Copies a binary record into `out` with its seq slot filled (see Reading::record).
void AppendRecord(std::string& out, std::string_view record, size_t seq_offset, uint64_t seq);

// The source and first seq a segment file name of `device` holds, or false.
bool ParseSegmentFileName(std::string_view name, std::string_view device, std::string* source,
                          uint64_t* first_seq);

// MD5 and SHA-256 of a segment's bytes already on disk (one adopted after a corrupt buffer).
void DigestBytes(std::string_view bytes, SegmentDigest& digest);

// One line of the jsonl format (design.md "Formats"), newline included. `device` and
// `source` are config-validated names that need no JSON escaping; `data_json` is
// already a compact JSON object.
void AppendJsonLine(std::string& out, std::string_view device, std::string_view source,
                    uint64_t seq, int64_t ts_ms, bool clock_ok, std::string_view data_json);

// The size of the line AppendJsonLine would append, without rendering it.
size_t JsonLineSize(std::string_view device, std::string_view source, uint64_t seq, int64_t ts_ms,
                    bool clock_ok, size_t data_size);

class SegmentFileWriter {
 public:
  // Not usable until Open() succeeded.
  SegmentFileWriter(Env& env, int level);
  ~SegmentFileWriter();
  Status Open(const std::string& path);
  // Compresses and writes `text`.
  Status Append(std::string_view text);
  // Ends the gzip stream, fsyncs and closes. The file is durable once this returns ok.
  Result<SegmentDigest> Finish();

 private:
  Status Deflate(int flush);

  Env& env_;
  Deflater deflater_;
  std::unique_ptr<WritableFile> file_;
  StreamHasher hasher_;
  std::string out_;
  SegmentDigest digest_;
};

}  // namespace granary
