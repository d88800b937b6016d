#pragma once
// Label and field selectors with the API server's syntax and semantics.
//
// Label selectors: comma-separated requirements, all must hold:
//   k=v, k==v, k!=v, k in (a,b), k notin (a,b), k (exists), !k (not exists),
//   k>n, k<n (integer comparison).
// `!=` and `notin` also match objects without the label (as in Kubernetes).
// Field selectors: comma-separated k=v, k==v, k!=v over a fixed set of field
// names per resource (the caller says which are supported).

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "operator/base/result.h"

namespace gpupool::kube {

struct SelectorError {
  std::string message;
};

class LabelSelector {
 public:
  // Empty text selects everything.
  static Result<LabelSelector, SelectorError> parse(std::string_view text);
  // `labels` is metadata.labels (may be null/absent).
  bool matches(const nlohmann::json& labels) const;
  bool empty() const { return reqs_.empty(); }

 private:
  enum class Op { Eq, NotEq, In, NotIn, Exists, NotExists, Gt, Lt };
  struct Req {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Req> reqs_;
};

class FieldSelector {
 public:
  // Fails with "field label not supported: <f>" for fields outside
  // `supported`, and on bad syntax.
  static Result<FieldSelector, SelectorError> parse(std::string_view text,
                                                    const std::vector<std::string>& supported);
  // Looks fields up in `obj` by their dotted path ("metadata.name",
  // "involvedObject.kind"); a missing field compares as "".
  bool matches(const nlohmann::json& obj) const;
  bool empty() const { return reqs_.empty(); }
  // The value required by `field=value`, if this selector has one.
  const std::string* equals_value(std::string_view field) const;

 private:
  struct Req {
    std::string field;
    bool negate;
    std::string value;
  };
  std::vector<Req> reqs_;
};

// Value at a dotted path (".spec.replicas" or "spec.replicas"); nullptr if
// absent. Only object members are followed.
const nlohmann::json* find_path(const nlohmann::json& obj, std::string_view path);
// Text form of a scalar for selectors ("" for null/absent, numbers and bools
// as JSON text).
std::string scalar_text(const nlohmann::json* v);

}  // namespace gpupool::kube
