#include "agent/outbox/submit_cli.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "agent/outbox/submit.h"
#include "config/units.h"

namespace granary {
namespace {

constexpr uint64_t kMaxReportBytes = 16ULL << 20;

const OutboxConfig* ChooseOutbox(const AgentConfig& config, const std::string& name) {
  if (name.empty()) {
    if (config.outboxes.size() == 1) return &config.outboxes.front();
    std::fprintf(stderr, "%s: %s\n", config.path.c_str(),
                 config.outboxes.empty()
                     ? "no [[outbox]] configured"
                     : "several [[outbox]] configured: choose one with --outbox");
    return nullptr;
  }
  for (const OutboxConfig& o : config.outboxes) {
    if (o.name == name) return &o;
  }
  std::fprintf(stderr, "%s: no [[outbox]] named \"%s\"\n", config.path.c_str(), name.c_str());
  return nullptr;
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "granary submit: %s\n", message.c_str());
  return code;
}

}  // namespace

int CmdSubmit(const AgentConfig& config, const SubmitArgs& args) {
  const OutboxConfig* outbox = ChooseOutbox(config, args.outbox);
  if (outbox == nullptr) return kExitConfig;
  auto margin = ParseSize(args.margin);
  if (!margin) return Fail(kExitConfig, "--margin: " + margin.error().message());

  std::ifstream in(args.report, std::ios::binary);
  if (!in) return Fail(kExitNoInput, "cannot read " + args.report + ": " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Fail(kExitNoInput, "cannot read " + args.report);
  const std::string text = buffer.str();
  if (text.size() > kMaxReportBytes)
    return Fail(kExitDataErr, args.report + ": larger than 16 MiB");

  std::vector<Attachment> attachments;
  for (const std::string& path : args.attach) {
    const std::string name = path.substr(path.rfind('/') + 1);
    if (!ValidFileName(name))
      return Fail(kExitDataErr, "attachment name \"" + name +
                                    "\" is not 1 to 200 characters of A-Z a-z 0-9 . _ -, "
                                    "starting with a letter or digit");
    auto a = InspectAttachment(path);
    if (!a) return Fail(kExitNoInput, a.error().message());
    attachments.push_back(std::move(*a));
  }
  ReportRequest request{text, args.kind, args.uuid, outbox->kind};
  auto report = PrepareReport(request, attachments);
  if (!report) return Fail(kExitDataErr, args.report + ": " + report.error().message());

  // Checked before anything is placed, so a refused submit leaves the outbox as it was.
  if (::access((outbox->path + "/" + report->uuid + ".json").c_str(), F_OK) == 0)
    return Fail(kExitCantCreat, "a report " + report->uuid + " is already in " + outbox->path);
  OutboxWriter writer(outbox->path);
  Status s = writer.CheckSpace(attachments, report->json.size(), *margin);
  if (s) s = writer.PlaceAttachments(report->uuid, attachments);
  if (s) s = writer.PlaceReport(report->uuid, report->json);
  if (!s) return Fail(kExitCantCreat, s.error().message());
  std::printf("%s\n", report->uuid.c_str());
  return 0;
}

}  // namespace granary
