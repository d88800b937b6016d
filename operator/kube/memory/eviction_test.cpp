// The eviction subresource of the in-memory API (eviction.cpp) through the
// typed client calls of operator/kube/api/eviction.h.
#include "operator/kube/api/eviction.h"

#include <gtest/gtest.h>

#include "operator/clock/clock.h"
#include "operator/kube/memory/store.h"

namespace gpupool::kube {
namespace {

using namespace std::chrono_literals;
using Outcome = Eviction::Outcome;
const Resource& kPods = resources::kPods;
const Resource& kPdbs = resources::kPodDisruptionBudgets;

Json pod(const std::string& name, const std::string& node, Json labels = {{"app", "web"}},
         const std::string& phase = "Running") {
  return Json{
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", labels}}},
      {"spec", {{"nodeName", node}, {"containers", {{{"name", "c"}, {"image", "i"}}}}}},
      {"status", {{"phase", phase}, {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
}

class EvictionTest : public ::testing::Test {
 protected:
  EvictionTest() : clock_(std::chrono::sys_days{std::chrono::year{2026} / 11 / 10}), api_(clock_) {}

  void add_pod(const Json& p) {
    Json created = *api_.create(kPods, "default", p);
    if (!p.contains("status")) return;
    created["status"] = p["status"];
    UpdateOptions uo;
    uo.subresource = "status";
    ASSERT_TRUE(api_.update(kPods, created, uo).ok());
  }

  // A budget over app=web whose status the disruption controller would
  // have written: `allowed` more disruptions, 2 of 2 healthy.
  void add_budget(int64_t allowed, const std::string& name = "web-pdb") {
    Json pdb = {{"apiVersion", "policy/v1"},
                {"kind", "PodDisruptionBudget"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec", {{"minAvailable", 2}, {"selector", {{"matchLabels", {{"app", "web"}}}}}}}};
    auto created = api_.create(kPdbs, "default", pdb);
    ASSERT_TRUE(created.ok()) << created.error().message;
    set_allowed(name, allowed);
  }
  void set_allowed(const std::string& name, int64_t allowed) {
    PatchOptions po;
    po.subresource = "status";
    Json status = {{"status",
                    {{"disruptionsAllowed", allowed},
                     {"currentHealthy", 2},
                     {"desiredHealthy", 2},
                     {"expectedPods", 2},
                     {"observedGeneration", 1}}}};
    auto r = api_.patch(kPdbs, "default", name, PatchType::Merge, status, po);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  bool exists(const std::string& name) { return api_.exists(kPods, "default", name); }

  FakeClock clock_;
  MemoryStore api_;
};

TEST_F(EvictionTest, APodWithoutABudgetIsDeleted) {
  add_pod(pod("a", "n1"));
  auto r = evict(api_, "default", "a");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->outcome, Outcome::Evicted);
  EXPECT_FALSE(exists("a"));
  // Gone already: NotFound, not an error.
  auto again = evict(api_, "default", "a");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, Outcome::NotFound);
}

TEST_F(EvictionTest, ABudgetWithNoDisruptionsLeftBlocksWithTheServersAnswer) {
  add_pod(pod("a", "n1"));
  add_budget(0);
  // The raw answer, as the real API server gives it.
  CreateOptions co;
  co.subresource = "eviction";
  Json body = {{"apiVersion", "policy/v1"},
               {"kind", "Eviction"},
               {"metadata", {{"name", "a"}, {"namespace", "default"}}}};
  auto raw = api_.create(kPods, "default", body, co);
  ASSERT_FALSE(raw.ok());
  EXPECT_EQ(raw.error().code, 429);
  EXPECT_EQ(raw.error().reason, "TooManyRequests");
  EXPECT_EQ(raw.error().message,
            "Cannot evict pod as it would violate the pod's disruption budget.");
  ASSERT_EQ(raw.error().causes.size(), 1u);
  EXPECT_EQ(raw.error().causes[0].reason, "DisruptionBudget");
  EXPECT_EQ(raw.error().causes[0].message,
            "The disruption budget web-pdb needs 2 healthy pods and has 2 currently");

  auto r = evict(api_, "default", "a");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, Outcome::BlockedByBudget);
  EXPECT_NE(r->message.find("web-pdb"), std::string::npos) << r->message;
  EXPECT_TRUE(exists("a"));

  // The disruption controller allows one: the eviction spends it.
  set_allowed("web-pdb", 1);
  add_pod(pod("b", "n1"));
  EXPECT_EQ(evict(api_, "default", "a")->outcome, Outcome::Evicted);
  EXPECT_FALSE(exists("a"));
  Json pdb = *api_.get(kPdbs, "default", "web-pdb");
  EXPECT_EQ(pdb["status"]["disruptionsAllowed"], 0);
  EXPECT_TRUE(pdb["status"]["disruptedPods"].contains("a"));
  EXPECT_EQ(evict(api_, "default", "b")->outcome, Outcome::BlockedByBudget);
  EXPECT_TRUE(exists("b"));
}

TEST_F(EvictionTest, ABudgetTheControllerHasNotSeenYetBlocks) {
  add_pod(pod("a", "n1"));
  add_budget(1);
  // A spec change the disruption controller has not observed yet.
  ASSERT_TRUE(
      api_.patch(kPdbs, "default", "web-pdb", PatchType::Merge, {{"spec", {{"minAvailable", 1}}}})
          .ok());
  auto r = evict(api_, "default", "a");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, Outcome::BlockedByBudget);
  EXPECT_NE(r->message.find("still being processed"), std::string::npos) << r->message;
}

TEST_F(EvictionTest, FinishedPodsAndPodsOutsideTheSelectorIgnoreTheBudget) {
  add_budget(0);
  add_pod(pod("done", "n1", {{"app", "web"}}, "Succeeded"));
  add_pod(pod("other", "n1", {{"app", "batch"}}));
  EXPECT_EQ(evict(api_, "default", "done")->outcome, Outcome::Evicted);
  EXPECT_EQ(evict(api_, "default", "other")->outcome, Outcome::Evicted);
  EXPECT_FALSE(exists("done"));
  EXPECT_FALSE(exists("other"));
}

TEST_F(EvictionTest, TwoBudgetsOverOnePodAreAnError) {
  add_pod(pod("a", "n1"));
  add_budget(1, "one");
  add_budget(1, "two");
  auto r = evict(api_, "default", "a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Internal);
  EXPECT_TRUE(exists("a"));
}

TEST_F(EvictionTest, DrainCandidatesSkipDaemonSetAndMirrorPodsLikeKubectlDrain) {
  add_pod(pod("web", "n1"));
  add_pod(pod("elsewhere", "n2"));
  add_pod(pod("finished", "n1", {{"app", "web"}}, "Failed"));
  Json ds = pod("ds", "n1");
  ds["metadata"]["ownerReferences"] = {{{"apiVersion", "apps/v1"},
                                        {"kind", "DaemonSet"},
                                        {"name", "agent"},
                                        {"uid", "u1"},
                                        {"controller", true}}};
  add_pod(ds);
  Json mirror = pod("static", "n1");
  mirror["metadata"]["annotations"] = {{kMirrorPodAnnotation, "abc"}};
  add_pod(mirror);
  auto c = drain_candidates(api_, "n1");
  ASSERT_TRUE(c.ok()) << c.error().message;
  ASSERT_EQ(c->evict.size(), 1u);
  EXPECT_EQ(c->evict[0]["metadata"]["name"], "web");
  EXPECT_EQ(c->done, 1);
  EXPECT_EQ(c->ignored, 2);
}

TEST(DrainAction, FieldsOfTheWrongTypeDoNotThrow) {
  Json odd = pod("odd", "n1");
  odd["status"] = nullptr;
  EXPECT_EQ(drain_action(odd), DrainAction::Evict);
  odd["metadata"]["ownerReferences"] = {{{"kind", "DaemonSet"}, {"controller", "yes"}}};
  EXPECT_EQ(drain_action(odd), DrainAction::Evict);
  Json finished = pod("f", "n1", {{"app", "web"}}, "Succeeded");
  EXPECT_EQ(drain_action(finished), DrainAction::Done);
}

}  // namespace
}  // namespace gpupool::kube
