#include "kvforge/core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace kvforge::core {

Progress::Progress(std::string label, size_t total)
    : label_(std::move(label)), total_(total), enabled_(::isatty(STDERR_FILENO) == 1) {
  start_ = last_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::update(size_t done) {
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double frac = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const double eta = frac > 0 ? secs / frac - secs : 0;
  std::fprintf(stderr, "\r%s: %zu/%zu (%.0f%%) %.1fs elapsed, ~%.0fs left   ", label_.c_str(), done, total_,
               100.0 * frac, secs, eta);
  std::fflush(stderr);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace kvforge::core
