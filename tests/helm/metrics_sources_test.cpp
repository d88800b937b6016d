// The monitoring sources under metrics/ agree with each other and with
// Prometheus: the metric catalog (metrics/README.md) is the contract; the
// sample exposition has exactly its families, types and labels and passes
// `promtool check metrics`; the alert rules pass `promtool check rules` and
// `promtool test rules`, and every alert is tested both firing and not
// firing; the Grafana dashboard is valid, uses its variables everywhere, and
// every panel and variable query parses as PromQL (promtool parses them as
// recording rules); alerts and panels only name catalog metrics.

#include <sys/wait.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace gpupool {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::IsEmpty;

fs::path source_dir() {
  const char* dir = std::getenv("GPUPOOL_SOURCE_DIR");
  return dir != nullptr ? fs::path(dir) : fs::current_path();
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Outcome {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a shell command line (paths here are ours: no quoting games needed).
Outcome run(const std::string& command) {
  Outcome r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return r;
}

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/gpupool-metrics-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---- The catalog: rows "| `name` | type | labels | meaning |" of metrics/README.md.
struct Family {
  std::string type;
  std::set<std::string> labels;
};

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::map<std::string, Family> catalog() {
  std::map<std::string, Family> out;
  std::istringstream in(read_file(source_dir() / "metrics/README.md"));
  std::string line;
  bool in_catalog = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) in_catalog = line == "## Metric catalog";
    if (!in_catalog || line.rfind("| `gpupool_", 0) != 0) continue;
    // Escaped pipes inside a cell ("hour \| month") are not column breaks.
    line = std::regex_replace(line, std::regex(R"(\\\|)"), "/");
    std::vector<std::string> cells;
    std::stringstream cs(line.substr(1));
    std::string cell;
    while (std::getline(cs, cell, '|'))
      cells.push_back(trim(cell));
    if (cells.size() < 3) continue;
    Family f;
    f.type = cells[1];
    // "controller (`gpupool`, ...)" -> controller; "(none)" -> no labels.
    const std::string names = std::regex_replace(cells[2], std::regex(R"(\([^)]*\))"), "");
    std::stringstream ls(names);
    std::string label;
    while (std::getline(ls, label, ','))
      if (!trim(label).empty()) f.labels.insert(trim(label));
    out[cells[0].substr(1, cells[0].size() - 2)] = f;
  }
  return out;
}

// Every gpupool_* name in a text, histogram suffixes folded into the family.
std::set<std::string> metric_names_in(const std::string& text,
                                      const std::map<std::string, Family>& families) {
  std::set<std::string> out;
  static const std::regex name(R"(\bgpupool_[a-z0-9_]*[a-z0-9])");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it) {
    std::string n = it->str();
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (!families.count(n) && n.size() > suffix.size() &&
          n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
        n = n.substr(0, n.size() - suffix.size());
      }
    }
    out.insert(n);
  }
  return out;
}

TEST(MetricCatalog, ListsEveryFamilyOfTheContract) {
  const auto families = catalog();
  EXPECT_EQ(families.size(), 33u) << "metrics/README.md's catalog tables changed size";
  for (const auto& [name, f] : families) {
    EXPECT_THAT(f.type, ::testing::AnyOf("counter", "gauge", "histogram")) << name;
    const bool total = name.size() > 6 && name.substr(name.size() - 6) == "_total";
    EXPECT_EQ(total, f.type == "counter") << name << ": counters, and only they, end in _total";
  }
}

// ---- Sample exposition
const fs::path kSample = "metrics/testdata/sample-metrics.prom";

TEST(SampleExposition, PassesPromtoolCheckMetrics) {
  const Outcome r = run("promtool check metrics < " + (source_dir() / kSample).string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, IsEmpty());
}

TEST(SampleExposition, HasExactlyTheCatalogFamiliesTypesAndLabels) {
  const auto families = catalog();
  std::map<std::string, std::string> types;
  std::map<std::string, std::set<std::string>> labels;
  std::istringstream in(read_file(source_dir() / kSample));
  std::string line;
  static const std::regex type_line(R"(# TYPE (\S+) (\S+))");
  static const std::regex series(R"(^([a-z_0-9]+)(\{([^}]*)\})? \S+$)");
  static const std::regex label(R"(([a-z_]+)=\"[^\"]*\")");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, type_line)) {
      types[m[1]] = m[2];
    } else if (std::regex_match(line, m, series)) {
      std::string fam = *metric_names_in(m[1].str(), families).begin();
      std::set<std::string> names;
      const std::string ls = m[3].str();
      for (auto it = std::sregex_iterator(ls.begin(), ls.end(), label);
           it != std::sregex_iterator(); ++it) {
        if ((*it)[1] != "le") names.insert((*it)[1]);
      }
      EXPECT_TRUE(labels.emplace(fam, names).first->second == names)
          << line << ": label names differ between series of " << fam;
      labels[fam] = names;
    } else {
      EXPECT_EQ(line.rfind('#', 0), 0u) << "not a sample line: " << line;
    }
  }
  for (const auto& [name, f] : families) {
    EXPECT_EQ(types[name], f.type) << name << ": # TYPE in the sample vs the catalog";
    EXPECT_EQ(labels[name], f.labels) << name << ": labels in the sample vs the catalog";
  }
  for (const auto& [name, t] : types)
    EXPECT_TRUE(families.count(name)) << name << " is in the sample but not in the catalog";
}

// ---- Alert rules
const fs::path kRules = "metrics/alerts/gpupool-rules.yaml";
const fs::path kRulesTest = "metrics/alerts/gpupool-rules_test.yaml";

TEST(AlertRules, PassPromtoolCheckRules) {
  const Outcome r = run("promtool check rules " + (source_dir() / kRules).string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("SUCCESS"));
}

TEST(AlertRules, PassTheirPromtoolUnitTests) {
  const Outcome r = run("promtool test rules " + (source_dir() / kRulesTest).string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("SUCCESS"));
}

TEST(AlertRules, EveryAlertIsTestedFiringAndNotFiring) {
  std::set<std::string> alerts;
  for (const auto& group : YAML::LoadFile((source_dir() / kRules).string())["groups"]) {
    for (const auto& rule : group["rules"]) {
      if (rule["alert"]) alerts.insert(rule["alert"].as<std::string>());
    }
  }
  ASSERT_EQ(alerts.size(), 8u);
  std::map<std::string, int> firing, silent;
  for (const auto& test : YAML::LoadFile((source_dir() / kRulesTest).string())["tests"]) {
    for (const auto& c : test["alert_rule_test"]) {
      const std::string name = c["alertname"].as<std::string>();
      EXPECT_TRUE(alerts.count(name)) << "a test names an unknown alert " << name;
      (c["exp_alerts"] && c["exp_alerts"].size() > 0 ? firing : silent)[name]++;
    }
  }
  for (const auto& a : alerts) {
    EXPECT_GT(firing[a], 0) << a << " is never tested firing";
    EXPECT_GT(silent[a], 0) << a << " is never tested not firing";
  }
}

TEST(AlertRules, NameOnlyCatalogMetrics) {
  const auto families = catalog();
  for (const auto& n : metric_names_in(read_file(source_dir() / kRules), families))
    EXPECT_TRUE(families.count(n)) << n << " is not in metrics/README.md";
}

// ---- Grafana dashboard
const fs::path kDashboard = "metrics/dashboards/gpupool.json";

json dashboard() {
  return json::parse(read_file(source_dir() / kDashboard));
}

// Every query target of every panel (rows' nested panels included).
std::vector<std::pair<std::string, json>> targets(const json& d) {
  std::vector<std::pair<std::string, json>> out;
  std::function<void(const json&)> walk = [&](const json& panels) {
    for (const auto& p : panels) {
      for (const auto& t : p.value("targets", json::array()))
        out.emplace_back(p.value("title", "?"), t);
      if (p.contains("panels")) walk(p["panels"]);
    }
  };
  walk(d.at("panels"));
  return out;
}

// Variables referenced as $x, ${x}, ${x:fmt} or [[x]] (Grafana's own $__x excluded).
std::set<std::string> variables_in(const std::string& text) {
  std::set<std::string> out;
  static const std::regex ref(
      R"(\$\{([A-Za-z0-9_]+)(:[^}]*)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\])");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), ref); it != std::sregex_iterator();
       ++it) {
    std::string v = (*it)[1].matched ? (*it)[1] : (*it)[3].matched ? (*it)[3] : (*it)[4];
    if (v.rfind("__", 0) != 0) out.insert(v);
  }
  return out;
}

TEST(Dashboard, IsCurrentSchemaWithTheFourFilterVariables) {
  const json d = dashboard();
  ASSERT_TRUE(d.contains("schemaVersion"));
  EXPECT_GE(d["schemaVersion"].get<int>(), 39);
  EXPECT_FALSE(d.value("uid", "").empty());
  std::map<std::string, json> vars;
  for (const auto& v : d.at("templating").at("list"))
    vars[v.at("name")] = v;
  ASSERT_TRUE(vars.count("datasource"));
  EXPECT_EQ(vars["datasource"]["type"], "datasource");
  EXPECT_EQ(vars["datasource"]["query"], "prometheus");
  for (const std::string v : {"namespace", "pool", "provider"}) {
    ASSERT_TRUE(vars.count(v)) << v;
    EXPECT_EQ(vars[v]["type"], "query") << v;
    EXPECT_THAT(vars[v]["definition"].get<std::string>(),
                ::testing::MatchesRegex("label_values\\(.*, " + v + "\\)"))
        << v;
    EXPECT_EQ(vars[v]["datasource"]["uid"], "${datasource}") << v;
  }
}

TEST(Dashboard, EveryPanelQueriesThroughTheVariables) {
  const json d = dashboard();
  std::set<std::string> defined;
  for (const auto& v : d.at("templating").at("list"))
    defined.insert(v.at("name"));
  const std::set<std::string> filters = {"namespace", "pool", "provider", "instance"};
  const auto ts = targets(d);
  ASSERT_GE(ts.size(), 20u);
  std::set<std::string> titles;
  for (const auto& [title, t] : ts) {
    titles.insert(title);
    const std::string expr = t.value("expr", "");
    ASSERT_FALSE(expr.empty()) << title;
    EXPECT_EQ(t.value("datasource", json::object()).value("uid", ""), "${datasource}") << title;
    const auto used = variables_in(expr);
    bool filtered = false;
    for (const auto& v : used) {
      EXPECT_TRUE(defined.count(v)) << title << ": $" << v << " is not a dashboard variable";
      filtered = filtered || filters.count(v) > 0;
    }
    EXPECT_TRUE(filtered) << title << ": query uses none of the filter variables: " << expr;
  }
  for (const auto& v : d.at("templating").at("list")) {
    for (const auto& used : variables_in(v.value("definition", "")))
      EXPECT_TRUE(defined.count(used)) << v["name"] << " uses undefined $" << used;
  }
  // The panels the dashboard promises.
  for (const std::string want :
       {"Spend today", "Month to date against monthly budget", "Burn by provider",
        "Committed and accrued spend", "Projected month-end vs monthly cap", "Paid but idle GPUs",
        "Instances by phase", "Desired vs ready replicas", "Provider API error rate",
        "Provider API latency", "Reconcile latency", "Work-queue depth"}) {
    EXPECT_TRUE(titles.count(want)) << "no panel \"" << want << "\"";
  }
}

TEST(Dashboard, PanelIdsAreUnique) {
  std::set<int> ids;
  const auto doc = dashboard();  // a temporary's member would die before the loop
  for (const auto& p : doc.at("panels")) {
    ASSERT_TRUE(p.contains("id") && p.contains("gridPos")) << p.value("title", "?");
    EXPECT_TRUE(ids.insert(p["id"].get<int>()).second) << "duplicate id " << p["id"];
  }
}

TEST(Dashboard, NamesOnlyCatalogMetrics) {
  const auto families = catalog();
  for (const auto& n : metric_names_in(read_file(source_dir() / kDashboard), families))
    EXPECT_TRUE(families.count(n)) << n << " is not in metrics/README.md";
}

// Grafana's variables replaced by what a query sees at run time.
std::string substitute(std::string expr) {
  expr = std::regex_replace(expr, std::regex(R"(\$__rate_interval|\$__interval)"), "1m");
  expr = std::regex_replace(expr, std::regex(R"(\$__range)"), "1d");
  return std::regex_replace(expr, std::regex(R"(\$\{?[A-Za-z0-9_]+(:[^}]*)?\}?)"), ".*");
}

TEST(Dashboard, EveryQueryParsesAsPromQL) {
  const json d = dashboard();
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
  out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "dashboard";
  out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
  int n = 0;
  auto add = [&](const std::string& expr) {
    out << YAML::BeginMap << YAML::Key << "record" << YAML::Value
        << "dashboard:query_" + std::to_string(++n) << YAML::Key << "expr" << YAML::Value
        << substitute(expr) << YAML::EndMap;
  };
  for (const auto& [title, t] : targets(d))
    add(t.at("expr"));
  // Variable queries: label_values(SELECTOR, label) -> SELECTOR.
  static const std::regex lv(R"(label_values\((.*),\s*[a-z_]+\))");
  for (const auto& v : d.at("templating").at("list")) {
    std::smatch m;
    const std::string def = v.value("definition", "");
    if (std::regex_match(def, m, lv)) add(m[1]);
  }
  out << YAML::EndSeq << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  TempDir tmp;
  const fs::path file = tmp.path() / "dashboard-queries.yaml";
  std::ofstream(file) << out.c_str() << "\n";
  const Outcome r = run("promtool check rules " + file.string());
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n" << out.c_str();
  EXPECT_THAT(r.output, ::testing::HasSubstr("SUCCESS: " + std::to_string(n) + " rules found"));
}

}  // namespace
}  // namespace gpupool
