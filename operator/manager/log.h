#pragma once
// A tiny structured logger for the operator process: one line per message to
// a stream, as text ("2026-11-22T02:10:42Z INFO message key=value") or JSON
// ({"ts":"...","level":"info","msg":"...","key":"value"}). Callers never pass
// credentials; values are written as given.
//
// Thread-safety: log() may be called from any thread (lines never interleave).

#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "operator/base/thread_annotations.h"
#include "operator/clock/clock.h"

namespace gpupool::manager {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };
enum class LogFormat { Text, Json };

std::optional<LogLevel> parse_log_level(std::string_view s);    // debug|info|warn|error
std::optional<LogFormat> parse_log_format(std::string_view s);  // text|json

class Logger {
 public:
  Logger(std::ostream& out, const Clock& clock, LogLevel level, LogFormat format)
      : out_(&out), clock_(clock), level_(level), format_(format) {}
  void log(LogLevel level, std::string_view msg,
           const std::map<std::string, std::string>& fields = {});
  void info(std::string_view msg, const std::map<std::string, std::string>& fields = {}) {
    log(LogLevel::Info, msg, fields);
  }
  void warn(std::string_view msg, const std::map<std::string, std::string>& fields = {}) {
    log(LogLevel::Warn, msg, fields);
  }
  void error(std::string_view msg, const std::map<std::string, std::string>& fields = {}) {
    log(LogLevel::Error, msg, fields);
  }

 private:
  Mutex mu_;
  std::ostream* const out_ PT_GUARDED_BY(mu_);  // lines are written whole, one at a time
  const Clock& clock_;
  LogLevel level_;
  LogFormat format_;
};

}  // namespace gpupool::manager
