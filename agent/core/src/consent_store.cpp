#include "p2pcp/agent/consent_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "p2pcp/agent/log.hpp"
#include "p2pcp/common/framing.hpp"

namespace p2pcp::agent {

namespace fs = std::filesystem;
using nlohmann::json;

ConsentStore::ConsentStore(fs::path file) : file_(std::move(file)) {
  std::ifstream in(file_);
  if (!in) {
    return;
  }
  const json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
  try {
    if (doc.is_discarded() || !doc.is_object() || doc.value("version", 0) != 1) {
      throw std::runtime_error("unexpected layout");
    }
    for (const auto& [origin, entry] : doc.at("origins").items()) {
      if (!isValidOrigin(origin)) {
        throw std::runtime_error("invalid origin");
      }
      granted_[origin] = entry.at("grantedAt").get<std::int64_t>();
    }
  } catch (const std::exception& e) {
    granted_.clear();
    fs::path aside = file_;
    aside += ".corrupt";
    std::error_code ec;
    fs::rename(file_, aside, ec);
    logWarning("consent file " + file_.string() + " could not be read (" + e.what() +
               "); moved to " + aside.string() + ", starting with no consents");
  }
}

bool ConsentStore::isGranted(const std::string& origin) const {
  const std::scoped_lock lock(mutex_);
  return granted_.contains(origin);
}

void ConsentStore::grant(const std::string& origin) {
  const std::scoped_lock lock(mutex_);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  granted_[origin] = now;
  saveLocked();
}

bool ConsentStore::revoke(const std::string& origin) {
  const std::scoped_lock lock(mutex_);
  if (granted_.erase(origin) == 0) {
    return false;
  }
  saveLocked();
  return true;
}

std::vector<Consent> ConsentStore::list() const {
  const std::scoped_lock lock(mutex_);
  std::vector<Consent> out;
  for (const auto& [origin, at] : granted_) {
    out.push_back({origin, at});
  }
  return out;
}

void ConsentStore::saveLocked() const {
  json origins = json::object();
  for (const auto& [origin, at] : granted_) {
    origins[origin] = {{"grantedAt", at}};
  }
  const std::string text = json{{"version", 1}, {"origins", origins}}.dump(2) + "\n";

  fs::create_directories(file_.parent_path());
  fs::path temp = file_;
  temp += ".tmp";
  // O_EXCL|O_NOFOLLOW: never write through a planted link; 0600: consents are private.
  ::unlink(temp.c_str());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot write " + temp.string() + ": " + std::strerror(errno));
  }
  try {
    writeFully(fd, text.data(), text.size());
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(temp.c_str(), file_.c_str()) != 0) {
    ::unlink(temp.c_str());
    throw std::runtime_error("cannot replace " + file_.string() + ": " + std::strerror(errno));
  }
}

}  // namespace p2pcp::agent
