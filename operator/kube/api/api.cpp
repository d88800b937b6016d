#include "operator/kube/api/api.h"

namespace gpupool::kube {

std::string Resource::api_version() const {
  return group.empty() ? version : group + "/" + version;
}

std::string Resource::group_resource() const {
  return group.empty() ? resource : resource + "." + group;
}

namespace {

struct KindInfo {
  ErrorKind kind;
  int code;
  const char* reason;
};

constexpr KindInfo kKinds[] = {
    {ErrorKind::NotFound, 404, "NotFound"},
    {ErrorKind::Conflict, 409, "Conflict"},
    {ErrorKind::AlreadyExists, 409, "AlreadyExists"},
    {ErrorKind::Invalid, 422, "Invalid"},
    {ErrorKind::Unauthorized, 401, "Unauthorized"},
    {ErrorKind::Forbidden, 403, "Forbidden"},
    {ErrorKind::Unavailable, 503, "ServiceUnavailable"},
    {ErrorKind::Timeout, 504, "Timeout"},
    {ErrorKind::Gone, 410, "Expired"},
    {ErrorKind::BadRequest, 400, "BadRequest"},
    {ErrorKind::MethodNotAllowed, 405, "MethodNotAllowed"},
    {ErrorKind::UnsupportedMediaType, 415, "UnsupportedMediaType"},
    {ErrorKind::TooManyRequests, 429, "TooManyRequests"},
    {ErrorKind::Internal, 500, "InternalError"},
};

const KindInfo& info(ErrorKind k) {
  for (const auto& i : kKinds) {
    if (i.kind == k) return i;
  }
  return kKinds[sizeof kKinds / sizeof kKinds[0] - 1];
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

}  // namespace

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::NotFound:
      return "NotFound";
    case ErrorKind::Conflict:
      return "Conflict";
    case ErrorKind::AlreadyExists:
      return "AlreadyExists";
    case ErrorKind::Invalid:
      return "Invalid";
    case ErrorKind::Unauthorized:
      return "Unauthorized";
    case ErrorKind::Forbidden:
      return "Forbidden";
    case ErrorKind::Unavailable:
      return "Unavailable";
    case ErrorKind::Timeout:
      return "Timeout";
    case ErrorKind::Gone:
      return "Gone";
    case ErrorKind::BadRequest:
      return "BadRequest";
    case ErrorKind::MethodNotAllowed:
      return "MethodNotAllowed";
    case ErrorKind::UnsupportedMediaType:
      return "UnsupportedMediaType";
    case ErrorKind::TooManyRequests:
      return "TooManyRequests";
    case ErrorKind::Internal:
      return "Internal";
  }
  return "Internal";
}

ErrorKind error_kind_for(int code, std::string_view reason) {
  for (const auto& i : kKinds) {
    if (reason == i.reason) return i.kind;
  }
  if (reason == "Gone") return ErrorKind::Gone;
  if (reason == "ServerTimeout") return ErrorKind::Timeout;
  switch (code) {
    case 400:
      return ErrorKind::BadRequest;
    case 401:
      return ErrorKind::Unauthorized;
    case 403:
      return ErrorKind::Forbidden;
    case 404:
      return ErrorKind::NotFound;
    case 405:
      return ErrorKind::MethodNotAllowed;
    case 408:
      return ErrorKind::Timeout;
    case 409:
      return ErrorKind::Conflict;
    case 410:
      return ErrorKind::Gone;
    case 413:
      return ErrorKind::BadRequest;
    case 415:
      return ErrorKind::UnsupportedMediaType;
    case 422:
      return ErrorKind::Invalid;
    case 429:
      return ErrorKind::TooManyRequests;
    case 502:
    case 503:
      return ErrorKind::Unavailable;
    case 504:
      return ErrorKind::Timeout;
    default:
      return ErrorKind::Internal;
  }
}

Json to_status_json(const ApiError& e) {
  Json j = {{"kind", "Status"},    {"apiVersion", "v1"},   {"metadata", Json::object()},
            {"status", "Failure"}, {"message", e.message}, {"reason", e.reason},
            {"code", e.code}};
  Json details = Json::object();
  if (!e.name.empty()) details["name"] = e.name;
  if (!e.group.empty()) details["group"] = e.group;
  if (!e.details_kind.empty()) details["kind"] = e.details_kind;
  if (!e.uid.empty()) details["uid"] = e.uid;
  if (!e.causes.empty()) {
    Json causes = Json::array();
    for (const auto& c : e.causes) {
      Json cj = Json::object();
      if (!c.reason.empty()) cj["reason"] = c.reason;
      if (!c.message.empty()) cj["message"] = c.message;
      if (!c.field.empty()) cj["field"] = c.field;
      causes.push_back(std::move(cj));
    }
    details["causes"] = std::move(causes);
  }
  if (e.retry_after_seconds) details["retryAfterSeconds"] = *e.retry_after_seconds;
  if (!details.empty()) j["details"] = std::move(details);
  if (!e.continue_token.empty()) j["metadata"]["continue"] = e.continue_token;
  return j;
}

namespace {
std::string str_field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it != j.end() && it->is_string()) return it->get<std::string>();
  return "";
}
}  // namespace

ApiError from_status_json(const Json& body, int http_code) {
  ApiError e;
  if (!body.is_object() || str_field(body, "kind") != "Status") {
    e.code = http_code;
    e.kind = error_kind_for(http_code, "");
    e.reason = info(e.kind).reason;
    std::string shown = body.is_string() ? body.get<std::string>() : body.dump();
    if (shown.size() > 200) shown = shown.substr(0, 200) + "...";
    e.message = "unexpected answer (HTTP " + std::to_string(http_code) + "): " + shown;
    return e;
  }
  // The Status's own code when it is an HTTP status (a server may send 0 or
  // nothing); anything else, 2^40 or -5 included, falls back to the answer's.
  auto code_it = body.find("code");
  e.code = http_code;
  if (code_it != body.end() && code_it->is_number_integer()) {
    const auto c = code_it->get<int64_t>();
    if (c >= 100 && c <= 599) e.code = static_cast<int>(c);
  }
  e.reason = str_field(body, "reason");
  e.message = str_field(body, "message");
  e.kind = error_kind_for(e.code, e.reason);
  if (auto m = body.find("metadata"); m != body.end() && m->is_object()) {
    e.continue_token = str_field(*m, "continue");
  }
  auto d = body.find("details");
  if (d != body.end() && d->is_object()) {
    e.name = str_field(*d, "name");
    e.group = str_field(*d, "group");
    e.details_kind = str_field(*d, "kind");
    e.uid = str_field(*d, "uid");
    auto ra = d->find("retryAfterSeconds");
    if (ra != d->end() && ra->is_number_integer()) e.retry_after_seconds = ra->get<int64_t>();
    auto causes = d->find("causes");
    if (causes != d->end() && causes->is_array()) {
      for (const auto& c : *causes) {
        if (!c.is_object()) continue;
        e.causes.push_back(
            {str_field(c, "reason"), str_field(c, "message"), str_field(c, "field")});
      }
    }
  }
  return e;
}

ApiError make_error(ErrorKind kind, std::string message) {
  ApiError e;
  e.kind = kind;
  e.code = info(kind).code;
  e.reason = info(kind).reason;
  e.message = std::move(message);
  return e;
}

ApiError make_not_found(const Resource& r, std::string_view name) {
  ApiError e =
      make_error(ErrorKind::NotFound, r.group_resource() + " " + quoted(name) + " not found");
  e.name = std::string(name);
  e.group = r.group;
  e.details_kind = r.resource;
  return e;
}

ApiError make_already_exists(const Resource& r, std::string_view name) {
  ApiError e = make_error(ErrorKind::AlreadyExists,
                          r.group_resource() + " " + quoted(name) + " already exists");
  e.name = std::string(name);
  e.group = r.group;
  e.details_kind = r.resource;
  return e;
}

ApiError make_conflict(const Resource& r, std::string_view name, std::string_view why) {
  ApiError e =
      make_error(ErrorKind::Conflict, "Operation cannot be fulfilled on " + r.group_resource() +
                                          " " + quoted(name) + ": " + std::string(why));
  e.name = std::string(name);
  e.group = r.group;
  e.details_kind = r.resource;
  return e;
}

ApiError make_invalid(std::string_view qualified_kind, std::string_view name,
                      std::vector<StatusCause> causes) {
  std::string joined;
  for (size_t i = 0; i < causes.size(); ++i) {
    if (i) joined += ", ";
    joined +=
        causes[i].field.empty() ? causes[i].message : causes[i].field + ": " + causes[i].message;
  }
  if (causes.size() > 1) joined = "[" + joined + "]";
  ApiError e = make_error(ErrorKind::Invalid, std::string(qualified_kind) + " " + quoted(name) +
                                                  " is invalid: " + joined);
  e.name = std::string(name);
  size_t dot = qualified_kind.find('.');
  if (dot != std::string_view::npos) {
    e.details_kind = std::string(qualified_kind.substr(0, dot));
    e.group = std::string(qualified_kind.substr(dot + 1));
  } else {
    e.details_kind = std::string(qualified_kind);
  }
  e.causes = std::move(causes);
  return e;
}

std::string_view to_string(FieldValidation v) {
  switch (v) {
    case FieldValidation::Strict:
      return "Strict";
    case FieldValidation::Warn:
      return "Warn";
    case FieldValidation::Ignore:
      return "Ignore";
  }
  return "Strict";
}

std::string_view content_type(PatchType t) {
  switch (t) {
    case PatchType::Merge:
      return "application/merge-patch+json";
    case PatchType::JsonPatch:
      return "application/json-patch+json";
    case PatchType::StrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::Apply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

std::string_view to_string(WatchEventType t) {
  switch (t) {
    case WatchEventType::Added:
      return "ADDED";
    case WatchEventType::Modified:
      return "MODIFIED";
    case WatchEventType::Deleted:
      return "DELETED";
    case WatchEventType::Bookmark:
      return "BOOKMARK";
    case WatchEventType::Error:
      return "ERROR";
  }
  return "ERROR";
}

std::optional<WatchEventType> parse_watch_event_type(std::string_view s) {
  for (auto t : {WatchEventType::Added, WatchEventType::Modified, WatchEventType::Deleted,
                 WatchEventType::Bookmark, WatchEventType::Error}) {
    if (to_string(t) == s) return t;
  }
  return std::nullopt;
}

}  // namespace gpupool::kube
