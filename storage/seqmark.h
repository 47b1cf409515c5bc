// Private to storage/: the seq marks, a small file beside the database that says what
// the database alone cannot prove once it is damaged or replaced. Per source: `sealed`,
// below which every seq is in a segment file or was uploaded or dropped (recorded); and
// `reserved`, at or above which no seq was ever issued. The writer reserves seqs in
// blocks, durably, before it issues them, so seqs continue above everything ever issued
// even when the WAL that issued the last ones is gone. The file also names the database
// it belongs to and whether the writer stopped cleanly, so a database swapped for another
// (or emptied) and a WAL lost after a crash are recognised.
//
// Format, one record a line: `db ID`, `state running|stopped`, `losses N` (state losses
// ever: the count must outlive the databases it is about), `SOURCE SEALED RESERVED`.
// The older format, `SOURCE NEXT_SEQ`, reads as SEALED = RESERVED = NEXT_SEQ.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "platform/env.h"
#include "platform/result.h"

namespace granary {

struct SeqMark {
  uint64_t sealed = 1;
  uint64_t reserved = 1;
  uint64_t block = 0;          // next reservation's size; memory only
  int64_t reserved_at_ns = 0;  // monotonic time of the last reservation; memory only
};

class SeqMarkFile {
 public:
  SeqMarkFile(Env& env, std::string state_dir);

  // Reads the file; a missing one is empty, not an error.
  Status Load();
  bool present() const { return present_; }
  // Rewrites the file durably.
  Status Save();

  std::string db_id;  // empty: not recorded (a file from before db ids)
  bool stopped_cleanly = true;
  uint64_t losses = 0;
  std::map<std::string, SeqMark> marks;

  // Makes [next_seq, next_seq + count) reserved for `source`, growing the block when
  // reservations come often, so a busy writer rewrites the file about once a minute.
  // Returns true when the file must be saved before the seqs are issued.
  bool Reserve(const std::string& source, uint64_t next_seq, uint64_t count, int64_t now_ns);

 private:
  Env& env_;
  std::string path_;
  bool present_ = false;
};

std::string SeqMarkPath(const std::string& state_dir);

}  // namespace granary
