// SPDX-License-Identifier: Apache-2.0
#include "rule_book.hpp"

#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <sstream>

namespace p2pcp::testing::fault {

namespace {

bool sameTime(const timespec& a, const timespec& b) noexcept {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

bool RuleBook::FileStamp::operator==(const FileStamp& other) const noexcept {
  // The inode as well as the times: file times have the kernel's coarse clock,
  // so two writes within a few milliseconds can share an mtime, while a file
  // written beside and renamed over the old one always has a new inode.
  return device == other.device && inode == other.inode && size == other.size &&
         sameTime(modified, other.modified) && sameTime(changed, other.changed);
}

RuleBook::RuleBook(std::optional<std::filesystem::path> file) : file_(std::move(file)) {}

void RuleBook::reloadIfChangedLocked() {
  if (!file_) {
    return;
  }
  std::optional<FileStamp> stamp;
  struct stat st {};
  if (::stat(file_->c_str(), &st) == 0) {
    stamp = FileStamp{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
  }
  if (loaded_ && stamp == stamp_) {
    return;
  }
  loaded_ = true;
  stamp_ = stamp;
  // A new file starts over: no counters, the token present with its own flags.
  rules_.clear();
  token_ = {};
  error_.reset();
  if (!stamp) {
    return;
  }
  try {
    std::ifstream in(*file_, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) {
      throw RulesError("cannot be read");
    }
    for (const Rule& rule : parseRules(text.str())) {
      rules_.push_back(Armed{rule});
    }
  } catch (const std::exception& e) {
    // Every call fails until the file is fixed: a typo must not pass for a test
    // whose fault never happened.
    rules_.clear();
    error_ = "p2pcp fault module: rules file " + file_->string() + ": " + e.what();
    std::cerr << *error_ << std::endl;
  }
}

Decision RuleBook::decide(Call call) {
  const std::lock_guard lock(mutex_);
  reloadIfChangedLocked();
  Decision decision;
  if (error_) {
    decision.brokenRules = error_;
    return decision;
  }
  Armed* chosen = nullptr;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    Armed& armed = rules_[i];
    if (armed.rule.call != call || armed.spent()) {
      continue;
    }
    ++armed.seen;
    if (armed.seen <= armed.rule.skip || chosen != nullptr) {
      continue;
    }
    chosen = &armed;
    decision.rule = i + 1;
  }
  if (chosen != nullptr) {
    ++chosen->fired;
    const Rule& rule = chosen->rule;
    decision.rv = rule.rv;
    decision.delay = rule.delay;
    decision.hang = rule.hang;
    decision.abort = rule.abort;
    decision.closeSessions = rule.reset || (rule.tokenAbsent && !token_.absent);
    token_.absent = token_.absent || rule.tokenAbsent;
    token_.extraFlags |= rule.flags;
  }
  decision.token = token_;
  return decision;
}

}  // namespace p2pcp::testing::fault
