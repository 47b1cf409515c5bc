// The dedupe window of one mqtt source: the `_id`s of the most recent messages archived,
// at most `capacity`, forgetting the oldest first. Seeded at start from what the source
// still holds locally (buffered records and sealed segment files), so a message the broker
// delivers again after a crash is recognised.
#pragma once

#include <cstddef>
#include <deque>
#include <set>

#include "archive/message.h"

namespace granary {

class KnownIds {
 public:
  explicit KnownIds(size_t capacity) : capacity_(capacity) {}
  // True when `id` was not known; it is then remembered.
  bool Insert(const archive::Uuid& id);
  bool Contains(const archive::Uuid& id) const { return ids_.count(id) != 0; }
  size_t size() const { return order_.size(); }

 private:
  size_t capacity_;
  std::set<archive::Uuid> ids_;
  std::deque<archive::Uuid> order_;
};

}  // namespace granary
