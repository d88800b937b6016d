#include "operator/yaml/safe_load.h"

#include <sstream>
#include <string>

#include <yaml-cpp/eventhandler.h>

namespace gpupool::yaml {
namespace {

// Counts parse events and stops the walk past `limit`.
class EventBudget final : public YAML::EventHandler {
 public:
  explicit EventBudget(long limit) : limit_(limit) {}

  void OnDocumentStart(const YAML::Mark& mark) override { tick(mark); }
  void OnDocumentEnd() override { tick(last_); }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { tick(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { tick(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    tick(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    tick(mark);
  }
  void OnSequenceEnd() override { tick(last_); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    tick(mark);
  }
  void OnMapEnd() override { tick(last_); }

 private:
  void tick(const YAML::Mark& mark) {
    last_ = mark;
    if (++events_ > limit_) {
      throw YAML::ParserException(
          mark,
          "the YAML parser does not terminate on this input (a stray ',' or similar "
          "outside a flow collection?)");
    }
  }

  long limit_;
  long events_ = 0;
  YAML::Mark last_ = YAML::Mark::null_mark();
};

void check_terminates(std::string_view text) {
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  EventBudget budget(kMaxEventsPerByte * static_cast<long>(text.size()) + kEventSlack);
  while (parser.HandleNextDocument(budget)) {
  }
}

}  // namespace

std::vector<YAML::Node> load_all(std::string_view text) {
  check_terminates(text);
  return YAML::LoadAll(std::string(text));
}

YAML::Node load(std::string_view text) {
  check_terminates(text);
  return YAML::Load(std::string(text));
}

}  // namespace gpupool::yaml
