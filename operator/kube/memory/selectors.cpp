#include "operator/kube/memory/selectors.h"

#include <algorithm>
#include <charconv>

namespace gpupool::kube {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ')
    s.remove_suffix(1);
  return s;
}

bool valid_label_key(std::string_view k) {
  if (k.empty() || k.size() > 317) return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '/';
  });
}

bool valid_label_value(std::string_view v) {
  if (v.size() > 63) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// Splits on commas that are not inside parentheses.
Result<std::vector<std::string_view>, SelectorError> split_top(std::string_view text) {
  std::vector<std::string_view> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '(') ++depth;
    if (text[i] == ')') {
      if (--depth < 0) return fail(SelectorError{"unbalanced parentheses"});
    }
    if (text[i] == ',' && depth == 0) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (depth != 0) return fail(SelectorError{"unbalanced parentheses"});
  parts.push_back(text.substr(start));
  return parts;
}

bool parse_int(std::string_view s, long long& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

Result<LabelSelector, SelectorError> LabelSelector::parse(std::string_view text) {
  LabelSelector sel;
  text = trim(text);
  if (text.empty()) return sel;
  auto parts = split_top(text);
  if (!parts.ok()) return fail(parts.error());
  for (std::string_view raw : parts.value()) {
    std::string_view p = trim(raw);
    auto bad = [&](const std::string& why) {
      return fail(
          SelectorError{"unable to parse requirement: " + why + ": \"" + std::string(p) + "\""});
    };
    if (p.empty()) return bad("empty requirement");
    Req r;
    if (p[0] == '!') {
      std::string_view k = trim(p.substr(1));
      if (!valid_label_key(k)) return bad("invalid label key");
      r.key = std::string(k);
      r.op = Op::NotExists;
      sel.reqs_.push_back(std::move(r));
      continue;
    }
    size_t paren = p.find('(');
    if (paren != std::string_view::npos) {
      // k in (a,b) / k notin (a,b)
      if (p.back() != ')') return bad("expected ')'");
      std::string_view head = trim(p.substr(0, paren));
      size_t sp = head.rfind(' ');
      if (sp == std::string_view::npos) return bad("expected 'in' or 'notin'");
      std::string_view op = head.substr(sp + 1);
      std::string_view k = trim(head.substr(0, sp));
      if (op == "in") {
        r.op = Op::In;
      } else if (op == "notin") {
        r.op = Op::NotIn;
      } else {
        return bad("expected 'in' or 'notin'");
      }
      if (!valid_label_key(k)) return bad("invalid label key");
      r.key = std::string(k);
      std::string_view inner = p.substr(paren + 1, p.size() - paren - 2);
      size_t start = 0;
      for (size_t i = 0; i <= inner.size(); ++i) {
        if (i == inner.size() || inner[i] == ',') {
          std::string_view v = trim(inner.substr(start, i - start));
          if (!valid_label_value(v)) return bad("invalid label value");
          r.values.emplace_back(v);
          start = i + 1;
        }
      }
      sel.reqs_.push_back(std::move(r));
      continue;
    }
    size_t pos;
    size_t oplen = 0;
    if ((pos = p.find("!=")) != std::string_view::npos) {
      r.op = Op::NotEq;
      oplen = 2;
    } else if ((pos = p.find("==")) != std::string_view::npos) {
      r.op = Op::Eq;
      oplen = 2;
    } else if ((pos = p.find('=')) != std::string_view::npos) {
      r.op = Op::Eq;
      oplen = 1;
    } else if ((pos = p.find('>')) != std::string_view::npos) {
      r.op = Op::Gt;
      oplen = 1;
    } else if ((pos = p.find('<')) != std::string_view::npos) {
      r.op = Op::Lt;
      oplen = 1;
    } else {
      if (!valid_label_key(p)) return bad("invalid label key");
      r.key = std::string(p);
      r.op = Op::Exists;
      sel.reqs_.push_back(std::move(r));
      continue;
    }
    std::string_view k = trim(p.substr(0, pos));
    std::string_view v = trim(p.substr(pos + oplen));
    if (!valid_label_key(k)) return bad("invalid label key");
    if (r.op == Op::Gt || r.op == Op::Lt) {
      long long n;
      if (!parse_int(v, n)) return bad("for 'Gt', 'Lt' operators, the value must be an integer");
    } else if (!valid_label_value(v)) {
      return bad("invalid label value");
    }
    r.key = std::string(k);
    r.values.emplace_back(v);
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

bool LabelSelector::matches(const nlohmann::json& labels) const {
  for (const auto& r : reqs_) {
    const nlohmann::json* v = nullptr;
    if (labels.is_object()) {
      auto it = labels.find(r.key);
      if (it != labels.end() && it->is_string()) v = &*it;
    }
    std::string val = v ? v->get<std::string>() : "";
    switch (r.op) {
      case Op::Exists:
        if (!v) return false;
        break;
      case Op::NotExists:
        if (v) return false;
        break;
      case Op::Eq:
        if (!v || val != r.values[0]) return false;
        break;
      case Op::NotEq:
        if (v && val == r.values[0]) return false;
        break;
      case Op::In:
        if (!v || std::find(r.values.begin(), r.values.end(), val) == r.values.end()) return false;
        break;
      case Op::NotIn:
        if (v && std::find(r.values.begin(), r.values.end(), val) != r.values.end()) return false;
        break;
      case Op::Gt:
      case Op::Lt: {
        long long have;
        long long want;
        if (!v || !parse_int(val, have) || !parse_int(r.values[0], want)) return false;
        if (r.op == Op::Gt ? !(have > want) : !(have < want)) return false;
        break;
      }
    }
  }
  return true;
}

Result<FieldSelector, SelectorError> FieldSelector::parse(
    std::string_view text, const std::vector<std::string>& supported) {
  FieldSelector sel;
  text = trim(text);
  if (text.empty()) return sel;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i != text.size() && text[i] != ',') continue;
    std::string_view p = trim(text.substr(start, i - start));
    start = i + 1;
    Req r;
    size_t pos;
    size_t oplen;
    if ((pos = p.find("!=")) != std::string_view::npos) {
      r.negate = true;
      oplen = 2;
    } else if ((pos = p.find("==")) != std::string_view::npos) {
      r.negate = false;
      oplen = 2;
    } else if ((pos = p.find('=')) != std::string_view::npos) {
      r.negate = false;
      oplen = 1;
    } else {
      return fail(SelectorError{"invalid selector: '" + std::string(text) +
                                "'; can't understand '" + std::string(p) + "'"});
    }
    r.field = std::string(trim(p.substr(0, pos)));
    r.value = std::string(trim(p.substr(pos + oplen)));
    if (std::find(supported.begin(), supported.end(), r.field) == supported.end()) {
      return fail(SelectorError{"field label not supported: " + r.field});
    }
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

const nlohmann::json* find_path(const nlohmann::json& obj, std::string_view path) {
  if (!path.empty() && path[0] == '.') path.remove_prefix(1);
  const nlohmann::json* cur = &obj;
  while (!path.empty()) {
    size_t dot = path.find('.');
    std::string key(path.substr(0, dot));
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string scalar_text(const nlohmann::json* v) {
  if (!v || v->is_null()) return "";
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

bool FieldSelector::matches(const nlohmann::json& obj) const {
  for (const auto& r : reqs_) {
    bool eq = scalar_text(find_path(obj, r.field)) == r.value;
    if (eq == r.negate) return false;
  }
  return true;
}

const std::string* FieldSelector::equals_value(std::string_view field) const {
  for (const auto& r : reqs_) {
    if (!r.negate && r.field == field) return &r.value;
  }
  return nullptr;
}

}  // namespace gpupool::kube
