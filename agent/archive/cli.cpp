#include "agent/archive/cli.h"

#include <cjson/cJSON.h>
#include <fmt/format.h>
#include <mosquitto.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "agent/archive/messages.h"
#include "agent/archive/uploaded.h"
#include "archive/message.h"
#include "archive/segment_reader.h"
#include "platform/crypto.h"
#include "platform/handles.h"
#include "platform/strings.h"
#include "platform/time.h"
#include "platform/utf8.h"
#include "storage/buffer.h"
#include "storage/segment_file.h"

namespace granary {
namespace {

// Every archived message of the mqtt sources (one, when `only` is set) of `device`, per
// source in seq order: sealed files first, then the buffered records. Stops when `visit`
// returns false. A document that does not decode is reported and skipped.
Status ForEachLocalMessage(Env& env, const AgentConfig& config, const std::string& device,
                           const std::string& only, const MessageVisit& visit) {
  std::set<std::string> sources;
  for (const SourceConfig& s : config.sources) {
    if (s.mqtt && (only.empty() || s.name == only)) sources.insert(s.name);
  }
  const std::string dir = SegmentsDir(config.state_dir);
  std::map<std::string, std::vector<std::pair<uint64_t, std::string>>> files;
  if (auto names = env.ListDir(dir)) {
    for (const std::string& f : *names) {
      std::string source;
      uint64_t first = 0;
      if (f.ends_with(".bson.gz") && ParseSegmentFileName(f, device, &source, &first) &&
          (only.empty() || source == only)) {
        files[source].emplace_back(first, f);
        sources.insert(source);
      }
    }
  }
  bool go_on = true;
  auto read_all = [&](archive::SegmentReader& reader, const std::string& where) {
    go_on = VisitSegment(reader, where, visit);
  };
  for (const std::string& source : sources) {
    auto& list = files[source];
    std::sort(list.begin(), list.end());
    for (const auto& [first, f] : list) {
      if (!go_on) return Status::Ok();
      archive::SegmentReader reader(kMaxArchiveDocumentBytes, kMaxArchiveRawBytes);
      if (Status s = reader.OpenGzip(dir + "/" + f); !s) {
        std::fprintf(stderr, "%s: %s\n", f.c_str(), s.error().message().c_str());
        continue;
      }
      read_all(reader, f);
    }
    if (!go_on || device != config.device) continue;
    Status s = ForEachBufferedRun(env, config.state_dir, source, [&](std::string_view run) {
      archive::SegmentReader reader(kMaxArchiveDocumentBytes, kMaxArchiveRawBytes);
      reader.OpenMemory(run);
      read_all(reader, "buffer");
    });
    if (!s) return s;
  }
  return Status::Ok();
}

std::string MessageJson(const archive::ArchivedMessage& m, const std::string& where) {
  CjsonPtr o(cJSON_CreateObject());
  cJSON* j = o.get();
  cJSON_AddStringToObject(j, "_id", archive::UuidText(m.id).c_str());
  cJSON_AddNumberToObject(j, "seq", static_cast<double>(m.seq));
  cJSON_AddStringToObject(j, "ts", FormatIso8601Millis(m.ts_ms).c_str());
  cJSON_AddStringToObject(j, "device", m.device.c_str());
  cJSON_AddStringToObject(j, "source", m.source.c_str());
  cJSON_AddStringToObject(j, "topic", m.topic.c_str());
  cJSON_AddNumberToObject(j, "qos", m.qos);
  cJSON_AddBoolToObject(j, "retain", m.retain);
  cJSON_AddBoolToObject(j, "dup", m.dup);
  if (m.clock_unsynced) cJSON_AddStringToObject(j, "clock", "unsynced");
  cJSON* h = cJSON_AddObjectToObject(j, "headers");
  if (!m.headers.user_properties.empty()) {
    cJSON* list = cJSON_AddArrayToObject(h, "user_properties");
    for (const archive::UserProperty& p : m.headers.user_properties) {
      cJSON* pair = cJSON_CreateArray();
      cJSON_AddItemToArray(pair, cJSON_CreateString(p.name.c_str()));
      cJSON_AddItemToArray(pair, cJSON_CreateString(p.value.c_str()));
      cJSON_AddItemToArray(list, pair);
    }
  }
  const archive::Headers& hd = m.headers;
  if (hd.content_type) cJSON_AddStringToObject(h, "content_type", hd.content_type->c_str());
  if (hd.payload_format) cJSON_AddNumberToObject(h, "payload_format", *hd.payload_format);
  if (hd.response_topic) cJSON_AddStringToObject(h, "response_topic", hd.response_topic->c_str());
  if (hd.correlation_data) {
    cJSON_AddStringToObject(h, "correlation_data_base64",
                            Base64Encode(*hd.correlation_data).c_str());
  }
  if (hd.message_expiry) cJSON_AddNumberToObject(h, "message_expiry", *hd.message_expiry);
  cJSON_AddNumberToObject(j, "payload_bytes", static_cast<double>(m.payload.size()));
  cJSON_AddStringToObject(j, "payload_base64", Base64Encode(m.payload).c_str());
  if (IsValidUtf8(m.payload) && m.payload.find('\0') == std::string::npos) {
    cJSON_AddStringToObject(j, "payload_text", m.payload.c_str());
  }
  cJSON_AddStringToObject(j, "stored_in", where.c_str());
  CjsonString text(cJSON_PrintUnformatted(j));
  return text.get();
}

bool TopicMatches(const std::string& filter, const std::string& topic) {
  if (filter.empty()) return true;
  bool match = false;
  return mosquitto_topic_matches_sub(filter.c_str(), topic.c_str(), &match) == MOSQ_ERR_SUCCESS &&
         match;
}

}  // namespace

std::optional<int64_t> ParseReplayTime(const std::string& text) {
  if (auto ms = ParseDecimal<int64_t>(text)) return *ms;
  // 2026-11-30T05:00:00Z -> 20261130T050000Z
  std::string compact;
  for (char c : text) {
    if (c != '-' && c != ':') compact += c;
  }
  int64_t ms = ParseAmzDate(compact);
  if (ms < 0) return std::nullopt;
  return ms;
}

int CmdArchiveLs(Env& env, const AgentConfig& config) {
  struct Summary {
    uint64_t count = 0, bytes = 0;
    int64_t first_ts = 0, last_ts = 0;
    int64_t first_seq = 0, last_seq = 0;
    std::map<std::string, uint64_t> topics;
    std::set<std::string> stored_in;
  };
  std::map<std::string, Summary> per_source;
  Status s = ForEachLocalMessage(env, config, config.device, "",
                                 [&](const archive::ArchivedMessage& m, const std::string& where) {
                                   Summary& sum = per_source[m.source];
                                   if (sum.count++ == 0) {
                                     sum.first_ts = m.ts_ms;
                                     sum.first_seq = m.seq;
                                   }
                                   sum.first_ts = std::min(sum.first_ts, m.ts_ms);
                                   sum.last_ts = std::max(sum.last_ts, m.ts_ms);
                                   sum.last_seq = m.seq;
                                   sum.bytes += m.payload.size();
                                   ++sum.topics[m.topic];
                                   sum.stored_in.insert(where);
                                   return true;
                                 });
  if (!s) {
    std::fprintf(stderr, "%s\n", s.error().message().c_str());
    return 1;
  }
  if (per_source.empty()) std::printf("no archived messages in %s\n", config.state_dir.c_str());
  for (const auto& [name, sum] : per_source) {
    std::printf(
        "source %s: %llu messages (seq %lld to %lld), %llu payload bytes, %s to %s, "
        "%zu topics, in %zu file(s)%s\n",
        name.c_str(), static_cast<unsigned long long>(sum.count),
        static_cast<long long>(sum.first_seq), static_cast<long long>(sum.last_seq),
        static_cast<unsigned long long>(sum.bytes), FormatIso8601Millis(sum.first_ts).c_str(),
        FormatIso8601Millis(sum.last_ts).c_str(), sum.topics.size(),
        sum.stored_in.size() - sum.stored_in.count("buffer"),
        sum.stored_in.count("buffer") ? " and the buffer" : "");
    for (const auto& [topic, n] : sum.topics) {
      std::printf("  %s: %llu\n", topic.c_str(), static_cast<unsigned long long>(n));
    }
  }
  return 0;
}

int CmdArchiveInspect(Env& env, const AgentConfig& config, const std::string& uuid) {
  auto id = archive::ParseUuid(uuid);
  if (!id) {
    std::fprintf(stderr, "not a UUID: %s\n", uuid.c_str());
    return 2;
  }
  bool found = false;
  Status s = ForEachLocalMessage(env, config, config.device, "",
                                 [&](const archive::ArchivedMessage& m, const std::string& where) {
                                   if (m.id != *id) return true;
                                   std::printf("%s\n", MessageJson(m, where).c_str());
                                   found = true;
                                   return false;
                                 });
  if (!s) {
    std::fprintf(stderr, "%s\n", s.error().message().c_str());
    return 1;
  }
  if (!found) {
    std::fprintf(stderr,
                 "no archived message %s in %s (uploaded segments whose local copy is "
                 "gone are on the receiver: GET /api/v1/messages/%s)\n",
                 archive::UuidText(*id).c_str(), config.state_dir.c_str(),
                 archive::UuidText(*id).c_str());
    return 1;
  }
  return 0;
}

int CmdReplay(Env& env, const AgentConfig& config, const ReplayArgs& args) {
  std::optional<int64_t> from =
      args.from.empty() ? std::optional<int64_t>(INT64_MIN) : ParseReplayTime(args.from);
  std::optional<int64_t> to =
      args.to.empty() ? std::optional<int64_t>(INT64_MAX) : ParseReplayTime(args.to);
  if (!from || !to) {
    std::fprintf(stderr, "--from/--to: want 2026-11-30T05:00:00Z or ms since the epoch\n");
    return 2;
  }
  if (!args.topic.empty() && mosquitto_sub_topic_check(args.topic.c_str()) != MOSQ_ERR_SUCCESS) {
    std::fprintf(stderr, "--topic: not an MQTT topic filter: %s\n", args.topic.c_str());
    return 2;
  }
  const std::string device = args.device.empty() ? config.device : args.device;
  // Selected first, so the progress has a total and a bad file fails before publishing.
  std::vector<archive::ArchivedMessage> selected;
  auto select = [&](const archive::ArchivedMessage& m, const std::string&) {
    if (m.ts_ms >= *from && m.ts_ms < *to && TopicMatches(args.topic, m.topic)) {
      selected.push_back(m);
    }
    return true;
  };
  size_t damaged = 0;
  if (args.s3) {
    Result<UploadedScan> scan =
        ForEachUploadedMessage(env, config, device, args.source, *to, select);
    if (!scan) {
      std::fprintf(stderr, "replay --s3: %s\n", scan.error().message().c_str());
      return 1;
    }
    damaged = scan->damaged;
    // Objects come in key order; a source's messages go out in seq order whatever the key
    // template sorts by.
    std::stable_sort(selected.begin(), selected.end(),
                     [](const archive::ArchivedMessage& a, const archive::ArchivedMessage& b) {
                       return std::tie(a.source, a.seq) < std::tie(b.source, b.seq);
                     });
    std::fprintf(stderr, "read %zu objects from s3://%s (%zu after --to skipped, %zu damaged)\n",
                 scan->objects, config.upload.s3.bucket.c_str(), scan->skipped, scan->damaged);
  } else if (Status s = ForEachLocalMessage(env, config, device, args.source, select); !s) {
    std::fprintf(stderr, "%s\n", s.error().message().c_str());
    return 1;
  }
  // A damaged object was named as it was read; the rest is still replayed, and the exit
  // status says the replay is incomplete.
  auto finish = [&] {
    if (damaged == 0) return 0;
    std::fprintf(stderr, "%zu damaged object(s) were not replayed (named above)\n", damaged);
    return 1;
  };
  if (args.dry_run) {
    for (const archive::ArchivedMessage& m : selected) {
      std::printf("%s %s seq %lld qos %d%s %zu bytes %s %s\n", FormatIso8601Millis(m.ts_ms).c_str(),
                  m.source.c_str(), static_cast<long long>(m.seq), m.qos,
                  m.retain && !args.publish.no_retain ? " retain" : "", m.payload.size(),
                  archive::UuidText(m.id).c_str(), m.topic.c_str());
    }
    std::fprintf(stderr, "%zu messages would be published\n", selected.size());
    return finish();
  }
  if (args.publish.broker_url.empty()) {
    std::fprintf(stderr, "--broker URL is required (or --dry-run)\n");
    return 2;
  }
  auto pub = archive::Republisher::Connect(args.publish);
  if (!pub) {
    std::fprintf(stderr, "%s\n", pub.error().message().c_str());
    return 1;
  }
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  size_t done = 0;
  for (const archive::ArchivedMessage& m : selected) {
    if (Status p = (*pub)->Publish(m); !p) {
      std::fprintf(stderr, "%sreplay stopped after %zu of %zu: %s\n", terminal ? "\n" : "", done,
                   selected.size(), p.error().message().c_str());
      return 1;
    }
    ++done;
    if (terminal && (done % 100 == 0 || done == selected.size())) {
      const size_t width = 40, filled = width * done / std::max<size_t>(selected.size(), 1);
      std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(filled, '#').c_str(),
                   std::string(width - filled, ' ').c_str(), done, selected.size());
    }
  }
  if (Status f = (*pub)->Finish(); !f) {
    std::fprintf(stderr, "%s%s\n", terminal ? "\n" : "", f.error().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "%sreplayed %zu messages to %s\n", terminal ? "\n" : "", done,
               args.publish.broker_url.c_str());
  return finish();
}

}  // namespace granary
