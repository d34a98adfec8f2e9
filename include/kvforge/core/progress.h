// A one-line progress indicator on stderr for long runs. Silent when stderr is
// not a terminal, so logs and CI output stay clean.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace kvforge::core {

class Progress {
 public:
  Progress(std::string label, size_t total);
  ~Progress();
  void update(size_t done);
  void finish();

 private:
  std::string label_;
  size_t total_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace kvforge::core
