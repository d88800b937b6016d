#include "tests/emulators/common/machine_table_emulator.h"

#include <gtest/gtest.h>

#include <map>

namespace gpupool::emulators {
namespace {

struct TestOptions {
  int boot_requests = 2;  // advance_locked() calls until a machine is up
  uint16_t port = 0;
};

struct TestMachine {
  std::string id;
  int age = 0;
  bool up = false;
};

// The least an emulator on the shared table is: machines that come up after
// a number of looks, and no routes.
class TableEmulator final : public MachineTableEmulator<TestOptions, TestMachine> {
 public:
  explicit TableEmulator(TestOptions options) : MachineTableEmulator(options) {}
  ~TableEmulator() override { stop(); }

  void make(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    machines_.push_back(TestMachine{id});
  }
  using MachineTableEmulator::machines;
  using MachineTableEmulator::table_state_json;

 private:
  void handle(const http::HttpRequest&, http::ResponseWriter& w) override {
    send_reply(w, Reply{404, "{}"});
  }
  void advance_locked() override {
    for (auto& m : machines_) {
      if (++m.age >= options_.boot_requests) m.up = true;
    }
  }
};

TEST(MachineTableEmulator, ReadsTheTableMovedOnByTheEmulatorsOwnStates) {
  TableEmulator e(TestOptions{.boot_requests = 2});
  e.make("a");
  std::vector<TestMachine> first = e.machines();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].id, "a");
  EXPECT_FALSE(first[0].up);
  EXPECT_TRUE(e.machines()[0].up);
}

TEST(MachineTableEmulator, StateJsonCountsTheTableAndWithAliveTheRequests) {
  TableEmulator e(TestOptions{});
  e.make("a");
  e.make("b");
  EXPECT_EQ(e.table_state_json("droplets"), R"({"droplets":2})");
  EXPECT_EQ(e.table_state_json("pods", 1), R"({"alive":1,"pods":2,"requests":0})");
}

struct CatalogEntry {
  std::string slug;
  std::map<std::string, int> capacity;
};

TEST(SetRegionCapacity, SetsTheNamedEntrysRegionOnly) {
  std::vector<CatalogEntry> catalog = {{"gpu-l40s", {{"nyc2", 1}}}, {"gpu-h100", {{"nyc2", 3}}}};
  set_region_capacity(catalog, &CatalogEntry::slug, "gpu-l40s", "tor1", 5);
  set_region_capacity(catalog, &CatalogEntry::slug, "gpu-l40s", "nyc2", -1);
  EXPECT_EQ(catalog[0].capacity, (std::map<std::string, int>{{"nyc2", -1}, {"tor1", 5}}));
  EXPECT_EQ(catalog[1].capacity, (std::map<std::string, int>{{"nyc2", 3}}));
}

}  // namespace
}  // namespace gpupool::emulators
