// What follows the indexing of a report or file (docs/receiver.md "Reports and files"):
// announcing it on {topic_prefix}/available, asking its kind's external validator over MQTT
// and recording the answer, and the periodic attachment checks.
//
// A request is {topic_prefix}/validate/{kind}; the answer {topic_prefix}/validation/{request_id}
// with {"result": "accept"} or {"result": "reject", "reason": "..."}. A request unanswered
// after validator_timeout is sent again with the same id, each wait twice as long (at most
// 64 times the timeout): a pending object is never accepted without an answer.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "platform/env.h"
#include "receiver/config.h"
#include "receiver/fleet_mqtt.h"
#include "receiver/index.h"
#include "receiver/validator.h"

namespace granary::receiver {

class ReportValidation {
 public:
  // `mqtt` may be null (no [mqtt]): nothing is announced and pending objects stay pending.
  ReportValidation(Env& env, Index& index, const ReceiverConfig& config, FleetMqtt* mqtt);

  // Where the API serves objects, for the requests' "url" (e.g. http://127.0.0.1:9000).
  void SetApiBase(std::string base);
  // An indexed report or file (the pipeline's upload listener). Any thread.
  void Indexed(const ObjectMeta& meta, const Validation& v, bool pending);
  // An answer from the MQTT thread.
  void OnAnswer(const std::string& request_id, std::string_view body);
  // The maintenance pass: due validation requests sent, attachments checked.
  void Tick();

  // The request's JSON (exposed for tests).
  static std::string RequestJson(const PendingValidation& p, const std::string& api_base);

 private:
  void SendDue();
  void Announce(const PendingValidation& p);

  Env& env_;
  Index& index_;
  const ReceiverConfig& config_;
  FleetMqtt* mqtt_;
  std::mutex mu_;  // one sender at a time: a request is not sent twice in one pass
  std::string api_base_;
};

}  // namespace granary::receiver
