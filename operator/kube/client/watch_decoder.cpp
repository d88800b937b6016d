#include "operator/kube/client/watch_decoder.h"

#include <cstdint>
#include <utility>

namespace gpupool::kube {

void WatchDecoder::feed(std::string_view bytes) {
  if (finished_) return;
  buf_.append(bytes);
  size_t start = 0;
  for (;;) {
    const auto nl = buf_.find('\n', start);
    if (nl == std::string::npos) break;
    parse_line(std::string_view(buf_).substr(start, nl - start));
    start = nl + 1;
    if (finished_) break;
  }
  if (finished_) {
    buf_.clear();
    return;
  }
  buf_.erase(0, start);
  if (buf_.size() > kMaxEventBytes) fail("a watch event larger than 64 MiB");
}

void WatchDecoder::finish() {
  if (!finished_ && !buf_.empty()) {
    const std::string rest = std::move(buf_);
    buf_.clear();
    parse_line(rest);
  }
  buf_.clear();
  finished_ = true;
}

std::vector<WatchEvent> WatchDecoder::take_events() {
  std::vector<WatchEvent> out;
  out.swap(events_);
  return out;
}

void WatchDecoder::fail(const std::string& what) {
  WatchEvent ev;
  ev.type = WatchEventType::Error;
  ev.error = make_error(ErrorKind::Internal,
                        "watch " + resource_.group_resource() + ": server sent " + what);
  ev.object = to_status_json(*ev.error);
  events_.push_back(std::move(ev));
  buf_.clear();
  finished_ = true;
  garbled_ = true;
}

void WatchDecoder::parse_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
    line.remove_suffix(1);
  if (line.empty() || finished_) return;
  Json j = Json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("a line that is not JSON");
  auto t = j.find("type");
  auto o = j.find("object");
  if (t == j.end() || !t->is_string() || o == j.end() || !o->is_object()) {
    return fail("an event without type or object");
  }
  const auto& type_name = t->get_ref<const std::string&>();
  auto type = parse_watch_event_type(type_name);
  if (!type) return fail("an event of unknown type \"" + type_name + "\"");
  WatchEvent ev;
  ev.type = *type;
  ev.object = std::move(*o);
  if (ev.type == WatchEventType::Error) {
    // A Status carries its HTTP code; anything but a small integer means 500.
    int code = 500;
    if (auto c = ev.object.find("code"); c != ev.object.end() && c->is_number_integer()) {
      const auto v = c->get<int64_t>();
      if (v >= 100 && v <= 599) code = static_cast<int>(v);
    }
    ev.error = from_status_json(ev.object, code);
  } else {
    if (!ev.object.contains("apiVersion")) ev.object["apiVersion"] = resource_.api_version();
    if (!ev.object.contains("kind")) ev.object["kind"] = resource_.kind;
  }
  events_.push_back(std::move(ev));
}

}  // namespace gpupool::kube
