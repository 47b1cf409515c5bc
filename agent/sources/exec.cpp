// type = "exec": run a command at each interval and store the one JSON object it prints:
//   command = ["/usr/local/bin/read-scale", "--json"]
// No shell: the array is the argv. The command runs in its own process group, which is
// SIGKILLed at the poll's timeout; stdout past max_stdout kills it too. A non-zero exit, a
// signal, a timeout or output that is not one JSON object each fail the poll with a message
// naming the command, its exit status and the start of what it printed.
#include <fmt/format.h>
#include <string.h>

#include "agent/sources/child_process.h"
#include "agent/sources/quote.h"
#include "agent/sources/source.h"
#include "platform/handles.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

constexpr size_t kQuoteBytes = 256;

struct ExecOptions {
  std::vector<std::string> command;
  uint64_t max_stdout = 64 * 1024;
};

class ExecSource : public Source {
 public:
  explicit ExecSource(ExecOptions options) : o_(std::move(options)) { name_ = o_.command[0]; }

  Result<std::vector<SourceReading>> Poll(milliseconds timeout) override {
    Result<ChildOutcome> run = RunChild(o_.command, timeout, o_.max_stdout);
    if (!run) return run.error();
    const ChildOutcome& r = *run;
    std::string prefix = "command " + QuoteRaw(name_, 128) + ": ";
    std::string stderr_note = r.err.empty() ? "" : "; stderr " + QuoteRaw(r.err, kQuoteBytes);
    if (r.timed_out) {
      return Error(prefix + fmt::format("killed after the {}ms timeout; stdout {}{}",
                                        timeout.count(), QuoteRaw(r.out, kQuoteBytes),
                                        stderr_note));
    }
    if (r.stdout_overflow) {
      return Error(prefix + fmt::format("killed for printing more than max_stdout ({} bytes)",
                                        o_.max_stdout));
    }
    if (!r.exited) {
      return Error(prefix + fmt::format("killed by signal {} ({}){}", r.term_signal,
                                        strsignal(r.term_signal), stderr_note));
    }
    if (r.exit_status != 0) {
      return Error(prefix + fmt::format("exit status {}; stdout {}{}", r.exit_status,
                                        QuoteRaw(r.out, kQuoteBytes), stderr_note));
    }
    const char* end = nullptr;
    CjsonPtr root(cJSON_ParseWithLengthOpts(r.out.data(), r.out.size(), &end, false));
    bool trailing =
        root && r.out.find_first_not_of(" \t\r\n", static_cast<size_t>(end - r.out.data())) !=
                    std::string::npos;
    if (!root || trailing || !cJSON_IsObject(root.get())) {
      return Error(prefix + "stdout is not one JSON object: " + QuoteRaw(r.out, kQuoteBytes));
    }
    CjsonString text(cJSON_PrintUnformatted(root.get()));
    if (!text) return Error(prefix + "out of memory");
    return std::vector<SourceReading>{{0, std::string(text.get())}};
  }

 private:
  const ExecOptions o_;
  std::string name_;
};

std::unique_ptr<Source> CreateExec(ConfigReader& reader) {
  size_t errors_before = reader.diagnostics()->errors.size();
  ExecOptions o;
  if (!reader.Has("command")) {
    reader.Fail("command",
                R"(required: the program and its arguments, e.g. ["/usr/bin/sensor", "--json"])");
    return nullptr;
  }
  o.command = reader.StringArray("command");
  if (o.command.empty() || o.command[0].empty()) {
    if (reader.diagnostics()->errors.size() == errors_before) {
      reader.Fail("command", "must name a program");
    }
  }
  o.max_stdout = reader.Size("max_stdout", o.max_stdout, 2);
  if (o.max_stdout > (16 << 20)) reader.Fail("max_stdout", "must be at most 16MiB");
  if (reader.diagnostics()->errors.size() > errors_before) return nullptr;
  return std::make_unique<ExecSource>(std::move(o));
}

}  // namespace

extern const SourceType kExecSourceType{"exec", &CreateExec};

}  // namespace granary
