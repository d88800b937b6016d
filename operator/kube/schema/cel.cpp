#include "operator/kube/schema/cel.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <regex>
#include <utility>

#include "operator/base/thread_annotations.h"
#include "operator/kube/schema/regex_cache.h"

namespace gpupool::kube::schema {

using nlohmann::json;

namespace {

// ---- Lexer -----------------------------------------------------------------

enum class Tok { End, Ident, Int, Double, String, Punct };

struct Token {
  Tok kind = Tok::End;
  std::string text;  // identifier, punctuation, or decoded string
  int64_t i = 0;
  double d = 0;
};

bool lex(std::string_view src, std::vector<Token>& out, std::string& error) {
  size_t i = 0;
  auto is_ident_start = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  };
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < src.size()) {
    const char c = src[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    Token t;
    if (is_ident_start(c)) {
      size_t j = i;
      while (j < src.size() && (is_ident_start(src[j]) || is_digit(src[j])))
        ++j;
      t.kind = Tok::Ident;
      t.text = std::string(src.substr(i, j - i));
      i = j;
    } else if (is_digit(c)) {
      size_t j = i;
      while (j < src.size() && is_digit(src[j]))
        ++j;
      bool is_double = false;
      if (j + 1 < src.size() && src[j] == '.' && is_digit(src[j + 1])) {
        is_double = true;
        ++j;
        while (j < src.size() && is_digit(src[j]))
          ++j;
      }
      const std::string num(src.substr(i, j - i));
      if (is_double) {
        t.kind = Tok::Double;
        t.d = std::strtod(num.c_str(), nullptr);
      } else {
        t.kind = Tok::Int;
        errno = 0;
        t.i = std::strtoll(num.c_str(), nullptr, 10);
        if (errno == ERANGE) {
          error = "integer literal out of range: " + num;
          return false;
        }
      }
      if (j < src.size() && src[j] == 'u') ++j;  // unsigned suffix: treated as int
      i = j;
    } else if (c == '\'' || c == '"') {
      size_t j = i + 1;
      std::string text;
      while (j < src.size() && src[j] != c) {
        if (src[j] == '\\' && j + 1 < src.size()) {
          const char e = src[j + 1];
          text += e == 'n' ? '\n' : e == 't' ? '\t' : e;
          j += 2;
        } else {
          text += src[j++];
        }
      }
      if (j >= src.size()) {
        error = "unterminated string literal";
        return false;
      }
      t.kind = Tok::String;
      t.text = std::move(text);
      i = j + 1;
    } else {
      static constexpr const char* kTwo[] = {"&&", "||", "==", "!=", "<=", ">="};
      t.kind = Tok::Punct;
      for (const char* two : kTwo) {
        if (src.substr(i, 2) == two) t.text = two;
      }
      if (t.text.empty()) {
        if (std::string_view("()[]{}.,?:!<>+-*/%").find(c) == std::string_view::npos) {
          error = std::string("unexpected character '") + c + "'";
          return false;
        }
        t.text = std::string(1, c);
      }
      i += t.text.size();
    }
    out.push_back(std::move(t));
  }
  out.push_back(Token{});
  return true;
}

// ---- AST -------------------------------------------------------------------

struct Node {
  enum Kind { Literal, Ident, Select, Index, Has, Call, Method, Macro, Unary, Binary, Cond, List };
  Kind kind = Literal;
  json literal;
  std::string name;  // identifier, field, function, operator, or macro variable
  std::string op;    // macro name
  std::vector<std::unique_ptr<Node>> kids;
};
using NodePtr = std::unique_ptr<Node>;

NodePtr make(Node::Kind kind, std::string name = {}) {
  auto n = std::make_unique<Node>();
  n->kind = kind;
  n->name = std::move(name);
  return n;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  NodePtr parse(std::string& error) {
    NodePtr n = expr();
    if (error_.empty() && peek().kind != Tok::End) fail("unexpected '" + peek().text + "'");
    error = error_;
    return error_.empty() ? std::move(n) : nullptr;
  }

 private:
  const Token& peek() const { return toks_[pos_]; }
  bool is(const char* punct) const { return peek().kind == Tok::Punct && peek().text == punct; }
  bool accept(const char* punct) {
    if (!is(punct)) return false;
    ++pos_;
    return true;
  }
  void expect(const char* punct) {
    if (!accept(punct)) fail(std::string("expected '") + punct + "'");
  }
  void fail(const std::string& why) {
    if (error_.empty()) error_ = why;
    pos_ = toks_.size() - 1;  // jump to End so parsing unwinds
  }

  NodePtr expr() {
    if (++depth_ > 64) {
      fail("expression nested too deeply");
      return make(Node::Literal);
    }
    NodePtr n = or_expr();
    if (accept("?")) {
      auto c = make(Node::Cond);
      c->kids.push_back(std::move(n));
      c->kids.push_back(or_expr());
      expect(":");
      c->kids.push_back(expr());
      n = std::move(c);
    }
    --depth_;
    return n;
  }
  NodePtr binary_chain(NodePtr (Parser::*next)(), std::initializer_list<const char*> ops) {
    NodePtr n = (this->*next)();
    for (;;) {
      const char* matched = nullptr;
      for (const char* op : ops) {
        if (is(op)) matched = op;
      }
      if (matched == nullptr) return n;
      ++pos_;
      auto b = make(Node::Binary, matched);
      b->kids.push_back(std::move(n));
      b->kids.push_back((this->*next)());
      n = std::move(b);
    }
  }
  NodePtr or_expr() { return binary_chain(&Parser::and_expr, {"||"}); }
  NodePtr and_expr() { return binary_chain(&Parser::rel_expr, {"&&"}); }
  NodePtr rel_expr() {
    NodePtr n = add_expr();
    static constexpr const char* kOps[] = {"==", "!=", "<=", ">=", "<", ">"};
    for (const char* op : kOps) {
      if (accept(op)) {
        auto b = make(Node::Binary, op);
        b->kids.push_back(std::move(n));
        b->kids.push_back(add_expr());
        return b;
      }
    }
    if (peek().kind == Tok::Ident && peek().text == "in") {
      ++pos_;
      auto b = make(Node::Binary, "in");
      b->kids.push_back(std::move(n));
      b->kids.push_back(add_expr());
      return b;
    }
    return n;
  }
  NodePtr add_expr() { return binary_chain(&Parser::mul_expr, {"+", "-"}); }
  NodePtr mul_expr() { return binary_chain(&Parser::unary_expr, {"*", "/", "%"}); }
  NodePtr unary_expr() {
    if (++unary_depth_ > 64) {
      fail("expression nested too deeply");
      return make(Node::Literal);
    }
    NodePtr n = unary_inner();
    --unary_depth_;
    return n;
  }
  NodePtr unary_inner() {
    if (accept("!")) {
      auto u = make(Node::Unary, "!");
      u->kids.push_back(unary_expr());
      return u;
    }
    if (accept("-")) {
      auto u = make(Node::Unary, "-");
      u->kids.push_back(unary_expr());
      return u;
    }
    return member_expr();
  }
  NodePtr member_expr() {
    NodePtr n = primary();
    for (;;) {
      if (accept(".")) {
        if (peek().kind != Tok::Ident) {
          fail("expected a field name after '.'");
          return n;
        }
        std::string name = peek().text;
        ++pos_;
        if (accept("(")) {
          static constexpr const char* kMacros[] = {"all", "exists", "exists_one"};
          bool is_macro = false;
          for (const char* m : kMacros)
            is_macro = is_macro || name == m;
          if (is_macro) {
            if (peek().kind != Tok::Ident) {
              fail(name + "() needs a variable name first");
              return n;
            }
            auto m = make(Node::Macro, peek().text);
            m->op = name;
            ++pos_;
            expect(",");
            m->kids.push_back(std::move(n));
            m->kids.push_back(expr());
            expect(")");
            n = std::move(m);
          } else {
            auto call = make(Node::Method, name);
            call->kids.push_back(std::move(n));
            args(call->kids);
            n = std::move(call);
          }
        } else {
          auto sel = make(Node::Select, name);
          sel->kids.push_back(std::move(n));
          n = std::move(sel);
        }
      } else if (accept("[")) {
        auto idx = make(Node::Index);
        idx->kids.push_back(std::move(n));
        idx->kids.push_back(expr());
        expect("]");
        n = std::move(idx);
      } else {
        return n;
      }
    }
  }
  // Parses "a, b)" after an opening parenthesis.
  void args(std::vector<NodePtr>& out) {
    if (accept(")")) return;
    do {
      out.push_back(expr());
    } while (accept(","));
    expect(")");
  }
  NodePtr primary() {
    const Token t = peek();
    switch (t.kind) {
      case Tok::Int: {
        ++pos_;
        auto n = make(Node::Literal);
        n->literal = t.i;
        return n;
      }
      case Tok::Double: {
        ++pos_;
        auto n = make(Node::Literal);
        n->literal = t.d;
        return n;
      }
      case Tok::String: {
        ++pos_;
        auto n = make(Node::Literal);
        n->literal = t.text;
        return n;
      }
      case Tok::Ident: {
        ++pos_;
        if (t.text == "true" || t.text == "false" || t.text == "null") {
          auto n = make(Node::Literal);
          n->literal = t.text == "null" ? json(nullptr) : json(t.text == "true");
          return n;
        }
        if (accept("(")) {
          if (t.text == "has") {
            auto n = make(Node::Has);
            n->kids.push_back(member_expr());
            expect(")");
            if (n->kids[0]->kind != Node::Select) fail("has() needs a field selection");
            return n;
          }
          if (t.text != "size" && t.text != "int" && t.text != "double" && t.text != "string") {
            fail("unsupported function " + t.text + "()");
          }
          auto n = make(Node::Call, t.text);
          args(n->kids);
          return n;
        }
        return make(Node::Ident, t.text);
      }
      case Tok::Punct:
        if (accept("(")) {
          NodePtr n = expr();
          expect(")");
          return n;
        }
        if (accept("[")) {
          auto n = make(Node::List);
          if (!accept("]")) {
            do {
              n->kids.push_back(expr());
            } while (accept(","));
            expect("]");
          }
          return n;
        }
        fail("unexpected '" + t.text + "'");
        return make(Node::Literal);
      case Tok::End:
        fail("unexpected end of rule");
        return make(Node::Literal);
    }
    return make(Node::Literal);
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  int depth_ = 0;
  int unary_depth_ = 0;
  std::string error_;
};

// Bounds evaluation recursion (binary chains nest one level per operator).
constexpr size_t kMaxTokens = 1024;

NodePtr compile(std::string_view rule, std::string& error) {
  std::vector<Token> tokens;
  if (!lex(rule, tokens, error)) return nullptr;
  if (tokens.size() > kMaxTokens) {
    error = "rule too long (more than " + std::to_string(kMaxTokens) + " tokens)";
    return nullptr;
  }
  Parser parser(std::move(tokens));
  return parser.parse(error);
}

// ---- Evaluation ------------------------------------------------------------

struct Val {
  bool ok = true;
  json v;
  std::string err;
};
Val error(std::string why) {
  return Val{false, nullptr, std::move(why)};
}
Val value(json v) {
  return Val{true, std::move(v), {}};
}

struct Binding {
  std::string name;
  const json* value;
};

class Evaluator {
 public:
  Evaluator(const json& self, const json* old_self) {
    env_.push_back({"self", &self});
    if (old_self != nullptr) env_.push_back({"oldSelf", old_self});
  }

  Val eval(const Node& n) {
    switch (n.kind) {
      case Node::Literal:
        return value(n.literal);
      case Node::Ident:
        for (auto it = env_.rbegin(); it != env_.rend(); ++it) {
          if (it->name == n.name) return value(*it->value);
        }
        return error("undeclared reference to '" + n.name + "'");
      case Node::Select: {
        Val target = eval(*n.kids[0]);
        if (!target.ok) return target;
        if (!target.v.is_object()) return error("no such key: " + n.name);
        auto it = target.v.find(n.name);
        if (it == target.v.end()) return error("no such key: " + n.name);
        return value(*it);
      }
      case Node::Has: {
        const Node& sel = *n.kids[0];
        Val target = eval(*sel.kids[0]);
        if (!target.ok) return target;
        if (!target.v.is_object()) return error("has() on a non-object");
        return value(target.v.contains(sel.name));
      }
      case Node::Index:
        return index(n);
      case Node::Call:
        return call(n);
      case Node::Method:
        return method(n);
      case Node::Macro:
        return macro(n);
      case Node::Unary: {
        Val a = eval(*n.kids[0]);
        if (!a.ok) return a;
        if (n.name == "!") {
          if (!a.v.is_boolean()) return error("no matching overload for '!'");
          return value(!a.v.get<bool>());
        }
        if (a.v.is_number_integer()) {
          const int64_t i = a.v.get<int64_t>();
          if (i == INT64_MIN) return error("integer overflow");
          return value(-i);
        }
        if (a.v.is_number()) return value(-a.v.get<double>());
        return error("no matching overload for '-'");
      }
      case Node::Binary:
        return binary(n);
      case Node::Cond: {
        Val c = eval(*n.kids[0]);
        if (!c.ok) return c;
        if (!c.v.is_boolean()) return error("condition is not a bool");
        return eval(*n.kids[c.v.get<bool>() ? 1 : 2]);
      }
      case Node::List: {
        json out = json::array();
        for (const auto& k : n.kids) {
          Val item = eval(*k);
          if (!item.ok) return item;
          out.push_back(std::move(item.v));
        }
        return value(std::move(out));
      }
    }
    return error("unsupported expression");
  }

 private:
  Val index(const Node& n) {
    Val target = eval(*n.kids[0]);
    if (!target.ok) return target;
    Val key = eval(*n.kids[1]);
    if (!key.ok) return key;
    if (target.v.is_array() && key.v.is_number_integer()) {
      const int64_t i = key.v.get<int64_t>();
      if (i < 0 || i >= static_cast<int64_t>(target.v.size())) return error("index out of range");
      return value(target.v[static_cast<size_t>(i)]);
    }
    if (target.v.is_object() && key.v.is_string()) {
      auto it = target.v.find(key.v.get<std::string>());
      if (it == target.v.end()) return error("no such key: " + key.v.get<std::string>());
      return value(*it);
    }
    return error("no matching overload for index");
  }

  static Val size_of(const json& v) {
    if (v.is_string()) {
      int64_t n = 0;
      for (char c : v.get_ref<const std::string&>()) {
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
      }
      return value(n);
    }
    if (v.is_array() || v.is_object()) return value(static_cast<int64_t>(v.size()));
    return error("no matching overload for size()");
  }

  Val call(const Node& n) {
    if (n.kids.size() != 1) return error(n.name + "() takes one argument");
    Val a = eval(*n.kids[0]);
    if (!a.ok) return a;
    if (n.name == "size") return size_of(a.v);
    if (n.name == "int" && a.v.is_number_integer()) return value(a.v.get<int64_t>());
    if (n.name == "int" && a.v.is_number()) {
      const double d = a.v.get<double>();
      if (!(d > -9.2e18 && d < 9.2e18)) return error("int() out of range");
      return value(static_cast<int64_t>(d));
    }
    if (n.name == "double" && a.v.is_number()) return value(a.v.get<double>());
    if (n.name == "string") return value(a.v.is_string() ? a.v : json(a.v.dump()));
    return error("no matching overload for " + n.name + "()");
  }

  Val method(const Node& n) {
    Val target = eval(*n.kids[0]);
    if (!target.ok) return target;
    std::vector<json> args;
    for (size_t i = 1; i < n.kids.size(); ++i) {
      Val a = eval(*n.kids[i]);
      if (!a.ok) return a;
      args.push_back(std::move(a.v));
    }
    if (n.name == "size" && args.empty()) return size_of(target.v);
    if (target.v.is_string() && args.size() == 1 && args[0].is_string()) {
      const std::string& s = target.v.get_ref<const std::string&>();
      const std::string& a = args[0].get_ref<const std::string&>();
      if (n.name == "startsWith") return value(s.rfind(a, 0) == 0);
      if (n.name == "endsWith") {
        return value(s.size() >= a.size() && s.compare(s.size() - a.size(), a.size(), a) == 0);
      }
      if (n.name == "contains") return value(s.find(a) != std::string::npos);
      if (n.name == "matches") {
        if (s.size() > 4096) return error("string too long for matches()");
        auto re = compiled_regex(a);
        if (re == nullptr) return error("invalid regular expression in matches()");
        return value(std::regex_search(s, *re));
      }
    }
    return error("no matching overload for ." + n.name + "()");
  }

  Val macro(const Node& n) {
    Val range = eval(*n.kids[0]);
    if (!range.ok) return range;
    std::vector<json> items;
    if (range.v.is_array()) {
      items.assign(range.v.begin(), range.v.end());
    } else if (range.v.is_object()) {
      for (const auto& [k, unused] : range.v.items())
        items.emplace_back(k);
    } else {
      return error(n.op + "() needs a list or map");
    }
    int64_t trues = 0;
    std::string first_error;
    for (const auto& item : items) {
      env_.push_back({n.name, &item});
      Val r = eval(*n.kids[1]);
      env_.pop_back();
      if (!r.ok || !r.v.is_boolean()) {
        if (first_error.empty()) first_error = r.ok ? "predicate is not a bool" : r.err;
        continue;
      }
      const bool b = r.v.get<bool>();
      if (n.op == "all" && !b) return value(false);
      if (n.op == "exists" && b) return value(true);
      if (b) ++trues;
    }
    if (!first_error.empty()) return error(first_error);
    if (n.op == "all") return value(true);
    if (n.op == "exists") return value(false);
    return value(trues == 1);
  }

  static bool equal(const json& a, const json& b) {
    if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
    return a == b;
  }

  Val binary(const Node& n) {
    const std::string& op = n.name;
    if (op == "&&" || op == "||") {
      const bool decisive = op == "||";
      Val a = eval(*n.kids[0]);
      if (a.ok && a.v.is_boolean() && a.v.get<bool>() == decisive) return value(decisive);
      Val b = eval(*n.kids[1]);
      if (b.ok && b.v.is_boolean() && b.v.get<bool>() == decisive) return value(decisive);
      if (!a.ok) return a;
      if (!b.ok) return b;
      if (!a.v.is_boolean() || !b.v.is_boolean()) return error("no matching overload for " + op);
      return value(!decisive);
    }
    Val a = eval(*n.kids[0]);
    if (!a.ok) return a;
    Val b = eval(*n.kids[1]);
    if (!b.ok) return b;
    if (op == "==") return value(equal(a.v, b.v));
    if (op == "!=") return value(!equal(a.v, b.v));
    if (op == "in") {
      if (b.v.is_array()) {
        for (const auto& item : b.v) {
          if (equal(item, a.v)) return value(true);
        }
        return value(false);
      }
      if (b.v.is_object() && a.v.is_string()) return value(b.v.contains(a.v.get<std::string>()));
      return error("no matching overload for 'in'");
    }
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      int cmp = 0;
      if (a.v.is_number() && b.v.is_number()) {
        const double x = a.v.get<double>();
        const double y = b.v.get<double>();
        cmp = x < y ? -1 : x > y ? 1 : 0;
      } else if (a.v.is_string() && b.v.is_string()) {
        cmp = a.v.get<std::string>().compare(b.v.get<std::string>());
      } else {
        return error("no matching overload for '" + op + "'");
      }
      if (op == "<") return value(cmp < 0);
      if (op == "<=") return value(cmp <= 0);
      if (op == ">") return value(cmp > 0);
      return value(cmp >= 0);
    }
    if (op == "+" && a.v.is_string() && b.v.is_string()) {
      return value(a.v.get<std::string>() + b.v.get<std::string>());
    }
    if (op == "+" && a.v.is_array() && b.v.is_array()) {
      json out = a.v;
      for (const auto& item : b.v)
        out.push_back(item);
      return value(std::move(out));
    }
    if (a.v.is_number_integer() && b.v.is_number_integer()) {
      const int64_t x = a.v.get<int64_t>();
      const int64_t y = b.v.get<int64_t>();
      int64_t r = 0;
      if (op == "+" && !__builtin_add_overflow(x, y, &r)) return value(r);
      if (op == "-" && !__builtin_sub_overflow(x, y, &r)) return value(r);
      if (op == "*" && !__builtin_mul_overflow(x, y, &r)) return value(r);
      if ((op == "/" || op == "%") && y == 0) return error("division by zero");
      if (op == "/" && !(x == INT64_MIN && y == -1)) return value(x / y);
      if (op == "%" && !(x == INT64_MIN && y == -1)) return value(x % y);
      return error("integer overflow");
    }
    if (a.v.is_number() && b.v.is_number()) {
      const double x = a.v.get<double>();
      const double y = b.v.get<double>();
      if (op == "+") return value(x + y);
      if (op == "-") return value(x - y);
      if (op == "*") return value(x * y);
      if (op == "/") return value(x / y);
    }
    return error("no matching overload for '" + op + "'");
  }

  std::vector<Binding> env_;
};

const char* schema_type(const json& schema) {
  if (schema.is_object()) {
    auto t = schema.find("type");
    if (t != schema.end() && t->is_string()) return t->get_ref<const std::string&>().c_str();
  }
  return "object";
}

std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

class RuleWalker {
 public:
  RuleWalker(std::vector<SchemaCause>* out, const Options& options)
      : out_(out), options_(options) {}

  void walk(const json& schema, const json& v, const json* old, const std::string& path) {
    if (!schema.is_object() || v.is_null()) return;
    run_rules(schema, v, old, path);
    if (v.is_object()) {
      auto props = schema.find("properties");
      auto additional = schema.find("additionalProperties");
      for (const auto& [key, item] : v.items()) {
        if (path.empty() && options_.custom_resource_root &&
            (key == "apiVersion" || key == "kind" || key == "metadata")) {
          continue;
        }
        const json* sub = nullptr;
        if (props != schema.end() && props->is_object()) {
          auto it = props->find(key);
          if (it != props->end()) sub = &*it;
        }
        if (sub == nullptr && additional != schema.end() && additional->is_object()) {
          sub = &*additional;
        }
        if (sub == nullptr) continue;
        const json* old_item = nullptr;
        if (old != nullptr && old->is_object()) {
          auto it = old->find(key);
          if (it != old->end()) old_item = &*it;
        }
        walk(*sub, item, old_item, join_path(path, key));
      }
    } else if (v.is_array()) {
      auto items = schema.find("items");
      if (items == schema.end()) return;
      // Atomic lists: items are not correlated with the old list.
      for (size_t i = 0; i < v.size(); ++i) {
        walk(*items, v[i], nullptr, path + "[" + std::to_string(i) + "]");
      }
    }
  }

 private:
  void run_rules(const json& schema, const json& v, const json* old, const std::string& path) {
    auto rules = schema.find("x-kubernetes-validations");
    if (rules == schema.end() || !rules->is_array()) return;
    for (const auto& r : *rules) {
      if (!r.is_object() || !r.contains("rule") || !r["rule"].is_string()) continue;
      const std::string rule = r["rule"].get<std::string>();
      const bool transition = is_transition_rule(rule);
      if (transition && old == nullptr) continue;
      CelOutcome outcome = evaluate_cel(rule, v, transition ? old : nullptr);
      if (outcome.ok && outcome.value) continue;
      std::string field = path;
      if (auto fp = r.find("fieldPath"); fp != r.end() && fp->is_string()) {
        std::string suffix = fp->get<std::string>();
        if (!suffix.empty() && suffix[0] == '.') suffix.erase(0, 1);
        field = join_path(path, suffix);
      }
      std::string message = r.contains("message") && r["message"].is_string()
                                ? r["message"].get<std::string>()
                                : "failed rule: " + rule;
      if (!outcome.ok) message = "failed rule: " + rule + ": " + outcome.error;
      const std::string reason = r.value("reason", std::string("FieldValueInvalid"));
      std::string typed_message = "\"";  // "<type>": <message>
      typed_message += schema_type(schema);
      typed_message += "\": ";
      typed_message += message;
      if (reason == "FieldValueRequired") {
        out_->push_back({CauseType::FieldValueRequired, field, "Required value: " + message});
      } else if (reason == "FieldValueForbidden") {
        out_->push_back({CauseType::FieldValueForbidden, field, "Forbidden: " + message});
      } else if (reason == "FieldValueDuplicate") {
        out_->push_back(
            {CauseType::FieldValueDuplicate, field, "Duplicate value: " + typed_message});
      } else {
        out_->push_back({CauseType::FieldValueInvalid, field, "Invalid value: " + typed_message});
      }
    }
  }

  std::vector<SchemaCause>* out_;
  const Options& options_;
};

void collect_compile_errors(const json& schema, const std::string& path,
                            std::vector<std::string>& out) {
  if (!schema.is_object()) return;
  if (auto rules = schema.find("x-kubernetes-validations");
      rules != schema.end() && rules->is_array()) {
    for (const auto& r : *rules) {
      if (!r.is_object() || !r.contains("rule") || !r["rule"].is_string()) {
        out.push_back(path + ": rule must be a string");
        continue;
      }
      const std::string rule = r["rule"].get<std::string>();
      std::string why = cel_compile_error(rule);
      if (why.empty()) continue;
      std::string line = path + ": ";
      line += rule;
      line += ": ";
      line += why;
      out.push_back(std::move(line));
    }
  }
  if (auto props = schema.find("properties"); props != schema.end() && props->is_object()) {
    for (const auto& [key, sub] : props->items()) {
      collect_compile_errors(sub, join_path(path, key), out);
    }
  }
  if (auto items = schema.find("items"); items != schema.end()) {
    collect_compile_errors(*items, path + "[]", out);
  }
  if (auto add = schema.find("additionalProperties"); add != schema.end()) {
    collect_compile_errors(*add, path + "[*]", out);
  }
}

// Compiled rules, shared by every call (CRDs hold few rules and they are
// evaluated on every write). nullptr with the error when a rule does not
// compile. Thread-safe; bounded.
struct Compiled {
  std::shared_ptr<const Node> ast;
  std::string error;
  bool transition = false;  // mentions oldSelf
};

bool mentions_old_self(std::string_view rule) {
  std::vector<Token> tokens;
  std::string error;
  if (!lex(rule, tokens, error)) return false;
  for (const auto& t : tokens) {
    if (t.kind == Tok::Ident && t.text == "oldSelf") return true;
  }
  return false;
}

// Compiled rules shared by every call; starts over when full, so arbitrary
// schemas cannot grow it without bound.
constexpr std::size_t kMaxCompiledRules = 4096;
struct CompiledRules {
  Mutex mu;
  std::map<std::string, Compiled, std::less<>> rules GUARDED_BY(mu);
};

Compiled compile_cached(std::string_view rule) {
  static CompiledRules cache;
  {
    MutexLock lock(cache.mu);
    auto it = cache.rules.find(rule);
    if (it != cache.rules.end()) return it->second;
  }
  Compiled c;
  NodePtr n = compile(rule, c.error);
  c.ast = std::shared_ptr<const Node>(std::move(n));
  c.transition = mentions_old_self(rule);
  MutexLock lock(cache.mu);
  if (cache.rules.size() >= kMaxCompiledRules) cache.rules.clear();
  cache.rules.emplace(std::string(rule), c);
  return c;
}

}  // namespace

std::string cel_compile_error(std::string_view rule) {
  std::string error;
  NodePtr n = compile(rule, error);
  return n ? std::string() : error;
}

bool is_transition_rule(std::string_view rule) {
  return compile_cached(rule).transition;
}

CelOutcome evaluate_cel(std::string_view rule, const json& self, const json* old_self) {
  Compiled c = compile_cached(rule);
  if (!c.ast) return CelOutcome{false, false, "compile error: " + c.error};
  Evaluator evaluator(self, old_self);
  Val v = evaluator.eval(*c.ast);
  if (!v.ok) return CelOutcome{false, false, v.err};
  if (!v.v.is_boolean()) return CelOutcome{false, false, "rule does not evaluate to a bool"};
  return CelOutcome{true, v.v.get<bool>(), {}};
}

std::vector<SchemaCause> validate_rules(const json& schema, const json& value,
                                        const json* old_value, const Options& options) {
  std::vector<SchemaCause> out;
  RuleWalker walker(&out, options);
  walker.walk(schema, value, old_value, "");
  return out;
}

std::vector<std::string> rule_compile_errors(const json& schema) {
  std::vector<std::string> out;
  collect_compile_errors(schema, "", out);
  return out;
}

}  // namespace gpupool::kube::schema
