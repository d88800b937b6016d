#include "providers/aws/xml.h"

#include "operator/base/utf8.h"

#include <charconv>

namespace gpupool::aws {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':' || static_cast<unsigned char>(c) >= 0x80;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<XmlNode, XmlError> run() {
    skip_misc();
    if (pos_ >= s_.size() || s_[pos_] != '<') return error("expected a root element");
    XmlNode root;
    if (!element(root, 1)) return fail(XmlError{err_});
    skip_misc();
    if (pos_ != s_.size()) return error("unexpected content after the root element");
    return root;
  }

 private:
  Unexpected<XmlError> error(std::string msg) {
    return fail(XmlError{msg + " at byte " + std::to_string(pos_)});
  }
  bool set_error(std::string msg) {
    if (err_.empty()) err_ = msg + " at byte " + std::to_string(pos_);
    return false;
  }
  bool starts(std::string_view p) const { return s_.substr(pos_).starts_with(p); }
  bool skip_until(std::string_view end) {
    size_t at = s_.find(end, pos_);
    if (at == std::string_view::npos) return false;
    pos_ = at + end.size();
    return true;
  }
  // Whitespace, comments, processing instructions, XML declaration.
  void skip_misc() {
    while (pos_ < s_.size()) {
      if (is_space(s_[pos_])) {
        ++pos_;
      } else if (starts("<?")) {
        if (!skip_until("?>")) return;
      } else if (starts("<!--")) {
        if (!skip_until("-->")) return;
      } else {
        return;
      }
    }
  }
  bool name(std::string& out) {
    size_t start = pos_;
    while (pos_ < s_.size() && is_name_char(s_[pos_]))
      ++pos_;
    if (pos_ == start) return set_error("expected a name");
    out = std::string(s_.substr(start, pos_ - start));
    return true;
  }
  static std::string local(const std::string& qname) {
    auto colon = qname.find(':');
    return colon == std::string::npos ? qname : qname.substr(colon + 1);
  }
  bool entity(std::string& out) {
    size_t semi = s_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12) return set_error("unterminated entity");
    std::string_view ent = s_.substr(pos_ + 1, semi - pos_ - 1);
    if (ent == "lt") {
      out.push_back('<');
    } else if (ent == "gt") {
      out.push_back('>');
    } else if (ent == "amp") {
      out.push_back('&');
    } else if (ent == "quot") {
      out.push_back('"');
    } else if (ent == "apos") {
      out.push_back('\'');
    } else if (ent.size() > 1 && ent[0] == '#') {
      uint32_t cp = 0;
      bool hex = ent[1] == 'x' || ent[1] == 'X';
      std::string_view digits = ent.substr(hex ? 2 : 1);
      auto [ptr, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (ec != std::errc() || ptr != digits.data() + digits.size() || cp == 0 || cp > 0x10FFFF ||
          (cp >= 0xD800 && cp <= 0xDFFF)) {  // surrogates are not characters
        return set_error("bad character reference");
      }
      append_utf8(out, cp);
    } else {
      return set_error("unknown entity");
    }
    pos_ = semi + 1;
    return true;
  }
  bool element(XmlNode& node, int depth) {
    if (depth > kMaxXmlDepth) return set_error("nesting too deep");
    ++pos_;  // '<'
    std::string qname;
    if (!name(qname)) return false;
    node.name = local(qname);
    // attributes
    while (true) {
      while (pos_ < s_.size() && is_space(s_[pos_]))
        ++pos_;
      if (pos_ >= s_.size()) return set_error("unterminated start tag");
      if (starts("/>")) {
        pos_ += 2;
        return true;
      }
      if (s_[pos_] == '>') {
        ++pos_;
        break;
      }
      std::string attr;
      if (!name(attr)) return false;
      while (pos_ < s_.size() && is_space(s_[pos_]))
        ++pos_;
      if (pos_ >= s_.size() || s_[pos_] != '=') return set_error("expected '=' in attribute");
      ++pos_;
      while (pos_ < s_.size() && is_space(s_[pos_]))
        ++pos_;
      if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\''))
        return set_error("expected a quoted value");
      char quote = s_[pos_++];
      std::string value;
      while (pos_ < s_.size() && s_[pos_] != quote) {
        if (s_[pos_] == '&') {
          if (!entity(value)) return false;
        } else if (s_[pos_] == '<') {
          return set_error("'<' in attribute value");
        } else {
          value.push_back(s_[pos_++]);
        }
      }
      if (pos_ >= s_.size()) return set_error("unterminated attribute value");
      ++pos_;
      node.attributes[attr] = std::move(value);
    }
    // content
    while (true) {
      if (pos_ >= s_.size()) return set_error("unterminated element <" + qname + ">");
      char c = s_[pos_];
      if (c == '<') {
        if (starts("</")) {
          pos_ += 2;
          std::string closing;
          if (!name(closing)) return false;
          if (closing != qname)
            return set_error("mismatched </" + closing + "> for <" + qname + ">");
          while (pos_ < s_.size() && is_space(s_[pos_]))
            ++pos_;
          if (pos_ >= s_.size() || s_[pos_] != '>') return set_error("unterminated end tag");
          ++pos_;
          return true;
        }
        if (starts("<!--")) {
          if (!skip_until("-->")) return set_error("unterminated comment");
          continue;
        }
        if (starts("<![CDATA[")) {
          size_t end = s_.find("]]>", pos_);
          if (end == std::string_view::npos) return set_error("unterminated CDATA");
          node.text.append(s_.substr(pos_ + 9, end - pos_ - 9));
          pos_ = end + 3;
          continue;
        }
        if (starts("<?")) {
          if (!skip_until("?>")) return set_error("unterminated processing instruction");
          continue;
        }
        if (starts("<!")) return set_error("DTDs are not supported");
        node.children.emplace_back();
        if (!element(node.children.back(), depth + 1)) return false;
      } else if (c == '&') {
        if (!entity(node.text)) return false;
      } else {
        node.text.push_back(c);
        ++pos_;
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string err_;
};

}  // namespace

const XmlNode* XmlNode::child(std::string_view child_name) const {
  for (const auto& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

std::string XmlNode::child_text(std::string_view child_name) const {
  const XmlNode* c = child(child_name);
  return c == nullptr ? std::string() : c->text;
}

const XmlNode* XmlNode::find(std::initializer_list<std::string_view> path) const {
  const XmlNode* cur = this;
  for (auto step : path) {
    cur = cur->child(step);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

std::string XmlNode::find_text(std::initializer_list<std::string_view> path) const {
  const XmlNode* n = find(path);
  return n == nullptr ? std::string() : n->text;
}

std::vector<const XmlNode*> XmlNode::children_named(std::string_view child_name) const {
  std::vector<const XmlNode*> out;
  for (const auto& c : children) {
    if (c.name == child_name) out.push_back(&c);
  }
  return out;
}

Result<XmlNode, XmlError> parse_xml(std::string_view text) {
  // The answers are UTF-8 (EC2 declares nothing else); a document that is not
  // is not well-formed XML, and its text would later fail to encode as JSON.
  if (const size_t at = invalid_utf8_at(text); at != std::string_view::npos) {
    return fail(XmlError{"not UTF-8 at byte " + std::to_string(at)});
  }
  return Parser(text).run();
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

}  // namespace gpupool::aws
