#include "operator/manager/log.h"

#include <ostream>

#include <nlohmann/json.hpp>

namespace gpupool::manager {
namespace {
const char* name(LogLevel l) {
  switch (l) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "info";
}
}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view s) {
  if (s == "debug") return LogLevel::Debug;
  if (s == "info") return LogLevel::Info;
  if (s == "warn") return LogLevel::Warn;
  if (s == "error") return LogLevel::Error;
  return std::nullopt;
}

std::optional<LogFormat> parse_log_format(std::string_view s) {
  if (s == "text") return LogFormat::Text;
  if (s == "json") return LogFormat::Json;
  return std::nullopt;
}

void Logger::log(LogLevel level, std::string_view msg,
                 const std::map<std::string, std::string>& fields) {
  if (level < level_) return;
  std::string line;
  const std::string ts = format_rfc3339(clock_.now());
  if (format_ == LogFormat::Json) {
    nlohmann::json j = {{"ts", ts}, {"level", name(level)}, {"msg", std::string(msg)}};
    for (const auto& [k, v] : fields)
      j[k] = v;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = ts + " " + name(level) + " ";
    line += msg;
    for (const auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      line += v;
    }
  }
  MutexLock lock(mu_);
  *out_ << line << '\n';
  out_->flush();
}

}  // namespace gpupool::manager
