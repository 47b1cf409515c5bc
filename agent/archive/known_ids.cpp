#include "agent/archive/known_ids.h"

namespace granary {

bool KnownIds::Insert(const archive::Uuid& id) {
  if (capacity_ == 0) return true;
  if (!ids_.insert(id).second) return false;
  order_.push_back(id);
  if (order_.size() > capacity_) {
    ids_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

}  // namespace granary
