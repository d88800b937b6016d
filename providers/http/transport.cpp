#include "providers/http/transport.h"

#include <cctype>

namespace gpupool::net {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view find_header(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return {};
}

std::string_view to_string(TransportErrorKind kind) {
  switch (kind) {
    case TransportErrorKind::Connect:
      return "connect";
    case TransportErrorKind::Timeout:
      return "timeout";
    case TransportErrorKind::Tls:
      return "tls";
    case TransportErrorKind::Broken:
      return "broken";
    case TransportErrorKind::Invalid:
      return "invalid";
  }
  return "unknown";
}

}  // namespace gpupool::net
