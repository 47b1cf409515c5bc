// A pipeline over a real store and SQLite index in a temp dir, and uploads into it as the
// HTTP layer makes them.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "receiver/fs_store.h"
#include "receiver/index.h"
#include "receiver/pipeline.h"
#include "receiver_test_util.h"
#include "tests/support/test_util.h"

namespace granary::receiver::testing {

class PipelineFixture : public ::testing::Test {
 protected:
  PipelineFixture() {
    config_.data_dir = dir_.path();
    store_ = std::move(*FilesystemStore::Open(Env::Default(), dir_.path()));
    OpenIndexAndPipeline();
  }
  void OpenIndexAndPipeline() {
    index_ = std::move(*OpenIndex(Env::Default(), config_));
    pipeline_ = std::make_unique<Pipeline>(Env::Default(), *store_, *index_, config_, metrics_);
  }
  // Puts `body` in quarantine as the HTTP layer does; returns its id.
  std::string Quarantine(const std::string& body, const ObjectMeta& meta) {
    auto w = store_->NewQuarantine();
    EXPECT_TRUE((*w)->Append(body).ok());
    EXPECT_TRUE((*w)->Finish().ok());
    EXPECT_TRUE(store_->SealQuarantine((*w)->id(), meta).ok());
    return (*w)->id();
  }
  // A segment of h017/meter [first, last] under `key`.
  PipelineOutcome PutAt(const std::string& key, const std::string& lines, uint64_t first,
                        uint64_t last) {
    std::string body = Gzip(lines);
    ObjectMeta meta = SegmentMeta(key, "h017", "meter", first, last, body);
    auto r = pipeline_->Process(Quarantine(body, meta), meta);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? r->outcome : PipelineOutcome::kRejected;
  }
  granary::testing::TempDir dir_;
  ReceiverConfig config_;
  Metrics metrics_;
  std::unique_ptr<FilesystemStore> store_;
  std::unique_ptr<Index> index_;
  std::unique_ptr<Pipeline> pipeline_;
};

}  // namespace granary::receiver::testing
