// SPDX-License-Identifier: Apache-2.0
#include "p2pcp/agent/front_door_status.hpp"

#include <mutex>
#include <utility>

namespace p2pcp::agent {

namespace {
std::mutex statusMutex;
nlohmann::json& current() {
  static nlohmann::json status = {{"state", "off"}};
  return status;
}
}  // namespace

void setFrontDoorStatus(nlohmann::json status) {
  const std::scoped_lock lock(statusMutex);
  current() = std::move(status);
}

nlohmann::json frontDoorStatus() {
  const std::scoped_lock lock(statusMutex);
  return current();
}

}  // namespace p2pcp::agent
