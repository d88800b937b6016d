#pragma once
// A small, strict-enough XML reader for EC2 Query API answers: elements, text,
// the five named entities and numeric character references, CDATA, comments,
// processing instructions and the XML declaration. Attributes are read and
// kept; namespace prefixes are stripped from element names (EC2 uses a default
// namespace only). Not a validating parser; no DTDs.
//
// Malformed input (unbalanced tags, bad entities, nesting deeper than
// kMaxDepth, trailing garbage) gives an error value, never a crash.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "operator/base/result.h"

namespace gpupool::aws {

struct XmlNode {
  std::string name;  // local name, prefix stripped
  std::map<std::string, std::string> attributes;
  std::string text;  // concatenated character data directly inside this element
  std::vector<XmlNode> children;

  // First child element with this local name, or nullptr.
  const XmlNode* child(std::string_view child_name) const;
  // Text of the first such child ("" when absent).
  std::string child_text(std::string_view child_name) const;
  // Follows a path of child names ("instanceState", "name"); nullptr if any
  // step is missing.
  const XmlNode* find(std::initializer_list<std::string_view> path) const;
  std::string find_text(std::initializer_list<std::string_view> path) const;
  // All direct children with this name (EC2 list members are <item>).
  std::vector<const XmlNode*> children_named(std::string_view child_name) const;
};

struct XmlError {
  std::string message;  // with a byte offset
};

inline constexpr int kMaxXmlDepth = 64;

Result<XmlNode, XmlError> parse_xml(std::string_view text);

// Escapes &, <, >, " and ' for text and attribute values.
std::string xml_escape(std::string_view text);

}  // namespace gpupool::aws
