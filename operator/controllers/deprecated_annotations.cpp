#include "operator/controllers/deprecated_annotations.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <sstream>
#include <string_view>

namespace gpupool::controllers {
namespace {

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// The settings block, created when unset (never reset when set).
template <typename T>
T& block(std::optional<T>& b) {
  if (!b) b.emplace();
  return *b;
}

const std::string* annotation(const api::GpuProvider& p, const char* key) {
  auto it = p.metadata.annotations.find(key);
  return it == p.metadata.annotations.end() ? nullptr : &it->second;
}

}  // namespace

std::string replacement_field(const std::string& annotation) {
  if (annotation == kSshPublicKeyAnnotation) return "spec.sshPublicKey.value";
  if (annotation == kAwsImageAnnotation) return "spec.aws.imageId";
  if (annotation == kSshKeyNameAnnotation) return "spec.lambda.sshKeyName";
  if (annotation == kScalewayProjectAnnotation) return "spec.scaleway.projectId";
  if (annotation == kFakeBootAnnotation) return "spec.fake.bootSeconds";
  if (annotation == kFakeCapacityAnnotation) return "spec.fake.capacity";
  return "";
}

DeprecatedAnnotations apply_deprecated_annotations(api::GpuProvider& p) {
  DeprecatedAnnotations out;
  auto& s = p.spec;
  // Calls fill(value) when the annotation is present and `unset`.
  auto take = [&](const char* key, bool unset, auto fill) {
    const std::string* v = annotation(p, key);
    if (v == nullptr || !unset) return;
    out.used.push_back(key);
    fill(*v);
  };
  take(kSshPublicKeyAnnotation, !s.ssh_public_key, [&](const std::string& v) {
    s.ssh_public_key = api::SshPublicKeySpec{v, std::nullopt};
  });
  if (s.type == "aws") {
    take(kAwsImageAnnotation, !s.aws || s.aws->image_id.empty(),
         [&](const std::string& v) { block(s.aws).image_id = v; });
  }
  if (s.type == "lambda") {
    take(kSshKeyNameAnnotation, !s.lambda || s.lambda->ssh_key_name.empty(),
         [&](const std::string& v) { block(s.lambda).ssh_key_name = v; });
  }
  if (s.type == "scaleway") {
    take(kScalewayProjectAnnotation, !s.scaleway || s.scaleway->project_id.empty(),
         [&](const std::string& v) { block(s.scaleway).project_id = v; });
  }
  if (s.type == "fake") {
    const bool boot_unset = !s.fake || !s.fake->boot_seconds;
    const bool capacity_unset = !s.fake || s.fake->capacity.empty();
    take(kFakeBootAnnotation, boot_unset, [&](const std::string& v) {
      auto n = parse_int(v);
      if (!n || *n < 0) {
        if (out.problem.empty()) {
          out.problem = std::string("annotation ") + kFakeBootAnnotation +
                        " must be a whole number of seconds, got \"" + v + "\"";
        }
        return;
      }
      block(s.fake).boot_seconds = *n;
    });
    take(kFakeCapacityAnnotation, capacity_unset, [&](const std::string& v) {
      std::vector<api::FakeCapacity> capacity;
      std::stringstream items(v);
      std::string item;
      while (std::getline(items, item, ',')) {
        if (item.empty()) continue;
        const auto eq = item.rfind('=');
        const auto slash = item.find('/');
        auto n = eq == std::string::npos ? std::nullopt : parse_int(item.substr(eq + 1));
        if (!n || *n < -1 || slash == std::string::npos || slash > eq) {
          if (out.problem.empty()) {
            out.problem = std::string("annotation ") + kFakeCapacityAnnotation +
                          ": expected <offerId>/<region>=<n>, got \"" + item + "\"";
          }
          return;
        }
        if (*n == -1) continue;  // unlimited: the default
        capacity.push_back(
            {item.substr(0, slash), item.substr(slash + 1, eq - slash - 1), static_cast<int>(*n)});
      }
      block(s.fake).capacity = std::move(capacity);
    });
  }
  std::sort(out.used.begin(), out.used.end());
  return out;
}

}  // namespace gpupool::controllers
