#include "kvforge/evict/budget.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace kvforge::evict {
namespace {

const char* kForms =
    "a budget is a fraction kept in (0, 1] (\"0.2\", \"20%\", \"1\" = keep all) or a slot count >= 2 "
    "written as an integer (\"128\")";

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

Result<Budget> Budget::fraction(double f) {
  if (!std::isfinite(f) || f <= 0.0 || f > 1.0) {
    std::ostringstream os;
    os << "budget fraction " << f << " is outside (0, 1]";
    return Status::InvalidArgument(os.str());
  }
  return Budget(true, f);
}

Result<Budget> Budget::count(size_t slots) {
  if (slots < 1) return Status::InvalidArgument("budget of 0 slots: at least 1 slot per kv head must be kept");
  return Budget(false, static_cast<double>(slots));
}

Result<Budget> Budget::parse(const std::string& input) {
  const std::string text = trim(input);
  if (text.empty()) return Status::InvalidArgument(std::string("empty budget; ") + kForms);
  std::string number = text;
  const bool percent = text.back() == '%';
  if (percent) number = trim(text.substr(0, text.size() - 1));
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end);
  if (number.empty() || errno != 0 || *end != '\0' || !std::isfinite(v)) {
    return Status::InvalidArgument("budget '" + text + "' is not a number; " + kForms);
  }
  const bool integer_form = !percent && number.find_first_of(".eE") == std::string::npos;
  if (integer_form && v > 1.0) {
    if (v > 1e12) return Status::InvalidArgument("budget '" + text + "' is too large");
    return Budget::count(static_cast<size_t>(v));
  }
  const double f = percent ? v / 100.0 : v;
  if (f <= 0.0 || f > 1.0) {
    return Status::InvalidArgument("budget '" + text + "' is outside (0, 1] as a fraction; " + kForms);
  }
  return Budget(true, f);
}

size_t Budget::slots(size_t reference_tokens) const {
  if (!is_fraction_) return static_cast<size_t>(value_);
  const double s = std::round(value_ * static_cast<double>(reference_tokens));
  return s < 1.0 ? 1 : static_cast<size_t>(s);
}

std::string Budget::to_string() const {
  if (!is_fraction_) return std::to_string(static_cast<size_t>(value_));
  std::ostringstream os;
  os << value_;  // shortest of 6 significant digits: 0.2, 0.25, 1
  return os.str();
}

}  // namespace kvforge::evict
