// Private to storage/: how a run of JSON readings is stored. A rendered line repeats the
// device, the source, the seq and the whole timestamp; those are the run's row already
// (or the writer's config), so a compact run keeps per reading only what varies:
//
//   varint  zigzag(ts - previous ts)   (the first reading's previous ts is the run's first_ts)
//   varint  (data length << 1) | unsynced
//   bytes   the data JSON object
//
// That is about a third fewer bytes than the rendered lines at ~150-byte readings, and every
// byte of a run is written to the WAL and fsync'd at commit, then written again at the
// checkpoint. The sealer renders the lines back (AppendJsonLine), byte for byte what the
// writer rendered before schema version 3; runs of binary records are stored as they are.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "platform/result.h"

namespace granary {

// The readings.encoding column.
enum class RunEncoding : int64_t {
  kRendered = 0,  // the run's lines or records, exactly as sealed
  kCompact = 1,   // JSON readings in the form above
};

// `prev_ts` is the run's previous reading's, or the run's first_ts for its first reading.
void AppendCompactReading(std::string& run, int64_t prev_ts, int64_t ts_ms, bool clock_ok,
                          std::string_view data_json);

// Reads a compact run back one reading at a time. A run that ends early, holds more than
// `count` readings, or whose lengths run past its end is an error naming what is wrong:
// a damaged page, never a reason to read out of bounds.
class CompactRunReader {
 public:
  struct Item {
    uint64_t seq = 0;
    int64_t ts_ms = 0;
    bool clock_ok = true;
    std::string_view data_json;
  };
  CompactRunReader(std::string_view run, uint64_t first_seq, int64_t first_ts, uint64_t count)
      : rest_(run), seq_(first_seq), ts_(first_ts), left_(count) {}
  // The next reading into `item`, false after the last one or at an error (see status()).
  bool Next(Item* item);
  const Status& status() const { return status_; }

 private:
  bool Varint(uint64_t* v);
  bool Fail(std::string what);

  std::string_view rest_;
  uint64_t seq_;
  int64_t ts_;
  uint64_t left_;
  Status status_;
};

// Renders a compact run of `count` readings from `first_seq`/`first_ts` as the segment's
// JSON Lines, handing them to `emit` about 16 KiB at a time, so a reader holds one chunk
// beside the run, never a rendered copy of it. Stops at the first failure of `emit`, or at
// damage (after emitting the lines before it).
Status RenderCompactRun(std::string_view run, uint64_t first_seq, int64_t first_ts, uint64_t count,
                        std::string_view device, std::string_view source,
                        const std::function<Status(std::string_view)>& emit);

}  // namespace granary
