#include "operator/core/bootstrap_template.h"

#include <array>
#include <cstdio>
#include <optional>

namespace gpupool::bootstrap {
namespace {

constexpr std::string_view kOpen = "{{";
constexpr std::string_view kClose = "}}";
constexpr std::string_view kLabelPool = "gpupool.io/pool";
constexpr std::string_view kLabelInstance = "gpupool.io/instance";

enum class Filter { Shell, Yaml, Raw };

struct Variable {
  std::string_view name;
  bool raw_allowed;  // the operator generates the value and checks it at render time
  std::string (*get)(const Values&);
};

std::string token_id(const Values& v) {
  return v.token.substr(0, v.token.find('.'));
}
std::string token_secret(const Values& v) {
  const auto dot = v.token.find('.');
  return dot == std::string::npos ? std::string() : v.token.substr(dot + 1);
}

constexpr std::array<Variable, 8> kVariables{{
    {"instance.name", true, [](const Values& v) { return v.instance_name; }},
    {"pool.name", false, [](const Values& v) { return v.pool_name; }},
    {"pool.namespace", false, [](const Values& v) { return v.pool_namespace; }},
    {"node.labels", false, node_labels},
    {"node.taints", false, node_taints},
    {"token", true, [](const Values& v) { return v.token; }},
    {"token.id", true, token_id},
    {"token.secret", true, token_secret},
}};

std::string known_variables() {
  std::string out;
  for (const auto& v : kVariables)
    out += (out.empty() ? "" : ", ") + std::string(v.name);
  return out;
}

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Line and column (1-based) of byte `offset` in `text`.
TemplateError error_at(std::string_view text, size_t offset, std::string message) {
  TemplateError e;
  e.line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++e.line;
      line_start = i + 1;
    }
  }
  e.column = static_cast<int>(offset - line_start) + 1;
  e.message = std::move(message);
  return e;
}

bool raw_safe(std::string_view v) {
  if (v.empty()) return false;
  for (const char c : v) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Length of the UTF-8 sequence at s[i], or 0 when it is not well formed.
size_t utf8_length(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF)
    n = 2;
  else if (b >= 0xE0 && b <= 0xEF)
    n = 3;
  else if (b >= 0xF0 && b <= 0xF4)
    n = 4;
  else
    return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  if ((b == 0xE0 && b1 < 0xA0) || (b == 0xED && b1 > 0x9F) || (b == 0xF0 && b1 < 0x90) ||
      (b == 0xF4 && b1 > 0x8F)) {
    return 0;  // overlong, surrogate or past U+10FFFF
  }
  return n;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::optional<Filter> parse_filter(std::string_view f) {
  if (f == "shell") return Filter::Shell;
  if (f == "yaml") return Filter::Yaml;
  if (f == "raw") return Filter::Raw;
  return std::nullopt;
}

// The value of `var` written for `filter`, or the reason it cannot be.
Result<std::string, std::string> substitute(const Variable& var, Filter filter,
                                            const Values& values) {
  const std::string value = var.get(values);
  switch (filter) {
    case Filter::Shell:
      if (value.find('\0') != std::string::npos) {
        return fail(std::string(var.name) + " holds a NUL byte, which no shell word can carry");
      }
      return shell_word(value);
    case Filter::Yaml:
      if (!valid_utf8(value)) return fail(std::string(var.name) + " is not valid UTF-8");
      return yaml_scalar(value);
    case Filter::Raw:
      if (!raw_safe(value)) {
        return fail(std::string(var.name) +
                    " is not made only of [a-z0-9.-], so raw cannot write it");
      }
      return value;
  }
  return fail(std::string("unknown filter"));
}

// One tag's content (between "{{" and "}}"), rendered; `at` is the offset of
// its "{{" for errors.
Result<std::string, TemplateError> render_tag(std::string_view tmpl, size_t at,
                                              std::string_view content, const Values& values) {
  const std::string_view body = trim(content);
  if (body.size() >= 2 && body.front() == '"' && body.back() == '"') {
    const std::string_view literal = body.substr(1, body.size() - 2);
    if (literal.find('"') == std::string_view::npos) return std::string(literal);
  }
  const auto bar = body.find('|');
  if (bar == std::string_view::npos) {
    const std::string name(body);
    return fail(error_at(tmpl, at,
                         "tag {{ " + name + " }} names no filter: write {{ " + name +
                             " | shell }} or {{ " + name + " | yaml }}"));
  }
  const std::string_view name = trim(body.substr(0, bar));
  const std::string_view filter_text = trim(body.substr(bar + 1));
  if (filter_text.find('|') != std::string_view::npos) {
    return fail(error_at(tmpl, at, "a tag takes exactly one filter (shell, yaml or raw)"));
  }
  const Variable* var = nullptr;
  for (const auto& v : kVariables) {
    if (v.name == name) var = &v;
  }
  if (!var) {
    return fail(error_at(
        tmpl, at,
        "unknown variable \"" + std::string(name) + "\" (known: " + known_variables() + ")"));
  }
  const auto filter = parse_filter(filter_text);
  if (!filter) {
    return fail(error_at(
        tmpl, at, "unknown filter \"" + std::string(filter_text) + "\" (known: shell, yaml, raw)"));
  }
  if (*filter == Filter::Raw && !var->raw_allowed) {
    return fail(error_at(tmpl, at,
                         "raw is not allowed for " + std::string(name) +
                             ", a value the operator does not generate: use shell or yaml"));
  }
  auto out = substitute(*var, *filter, values);
  if (!out.ok()) return fail(error_at(tmpl, at, out.error()));
  return std::move(out).value();
}

// Where the tag opened at `open` closes (offset of its "}}"), or npos. A
// string literal's quotes are skipped, so {{ "}}" }} closes after them.
size_t find_close(std::string_view tmpl, size_t open) {
  size_t from = open + kOpen.size();
  const auto first = tmpl.find_first_not_of(" \t", from);
  if (first != std::string_view::npos && tmpl[first] == '"') {
    const auto quote = tmpl.find('"', first + 1);
    if (quote != std::string_view::npos) from = quote + 1;
  }
  return tmpl.find(kClose, from);
}

}  // namespace

std::string TemplateError::describe() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
}

std::string shell_word(std::string_view value) {
  std::string out = "'";
  for (const char c : value) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string yaml_scalar(std::string_view value) {
  std::string out = "\"";
  for (size_t i = 0; i < value.size();) {
    const auto c = static_cast<unsigned char>(value[i]);
    const size_t n = utf8_length(value, i);
    if (c >= 0x80 && n >= 2) {
      // Unicode line breaks, C1 controls and the BOM are escaped; YAML
      // parsers would fold or drop them otherwise.
      const std::string_view seq = value.substr(i, n);
      char buf[16];
      if (n == 2 && c == 0xC2 && static_cast<unsigned char>(value[i + 1]) < 0xA0) {
        std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned char>(value[i + 1]));
        out += buf;
      } else if (seq == "\xE2\x80\xA8") {
        out += "\\u2028";
      } else if (seq == "\xE2\x80\xA9") {
        out += "\\u2029";
      } else if (seq == "\xEF\xBB\xBF") {
        out += "\\uFEFF";
      } else {
        out += seq;
      }
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c >= 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02X", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return out;
}

std::string node_labels(const Values& values) {
  std::map<std::string, std::string> all = values.labels;
  all[std::string(kLabelPool)] = values.pool_name;
  all[std::string(kLabelInstance)] = values.instance_name;
  std::string out;
  for (const auto& [k, v] : all) {
    if (!out.empty()) out += ',';
    out.append(k).append("=").append(v);
  }
  return out;
}

std::string node_taints(const Values& values) {
  std::string out;
  for (const auto& t : values.taints) {
    if (!out.empty()) out += ',';
    out += t;
  }
  return out;
}

Result<std::string, TemplateError> render(std::string_view tmpl, const Values& values) {
  std::string out;
  out.reserve(tmpl.size());
  size_t pos = 0;
  while (pos < tmpl.size()) {
    const size_t open = tmpl.find(kOpen, pos);
    if (open == std::string_view::npos) {
      out.append(tmpl.substr(pos));
      break;
    }
    out.append(tmpl.substr(pos, open - pos));
    const size_t close = find_close(tmpl, open);
    if (close == std::string_view::npos) {
      return fail(error_at(tmpl, open, "tag opened with {{ is never closed with }}"));
    }
    const std::string_view content = tmpl.substr(open + kOpen.size(), close - open - kOpen.size());
    if (content.find('\n') != std::string_view::npos) {
      return fail(error_at(tmpl, open, "tag opened with {{ is not closed with }} on its line"));
    }
    auto piece = render_tag(tmpl, open, content, values);
    if (!piece.ok()) return fail(piece.error());
    out += *piece;
    pos = close + kClose.size();
  }
  return out;
}

Status<TemplateError> check(std::string_view tmpl, const std::map<std::string, std::string>& labels,
                            const std::vector<std::string>& taints) {
  Values sample;
  sample.instance_name = "sample-0123abcd-0";
  sample.pool_name = "sample";
  sample.pool_namespace = "default";
  sample.labels = labels;
  sample.taints = taints;
  sample.token = "abcdef.0123456789abcdef";
  auto r = render(tmpl, sample);
  if (!r.ok()) return fail(r.error());
  return {};
}

}  // namespace gpupool::bootstrap
