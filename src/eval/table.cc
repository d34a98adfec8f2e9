#include "kvforge/eval/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kvforge/core/file_io.h"

namespace kvforge::eval {

namespace {
std::string cell(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    char buf[64];
    const double a = std::fabs(d);
    if (a != 0 && (a >= 1e6 || a < 1e-3)) {
      std::snprintf(buf, sizeof buf, "%.4g", d);
    } else if (a >= 100) {
      std::snprintf(buf, sizeof buf, "%.1f", d);
    } else {
      std::snprintf(buf, sizeof buf, "%.4f", d);
    }
    return buf;
  }
  return v.dump();
}
}  // namespace

void Table::print(std::ostream& out) const {
  std::vector<size_t> width(columns_.size());
  std::vector<std::vector<std::string>> cells;
  for (size_t c = 0; c < columns_.size(); ++c) width[c] = columns_[c].size();
  for (const auto& row : rows_) {
    std::vector<std::string> line;
    for (size_t c = 0; c < columns_.size(); ++c) {
      line.push_back(row.contains(columns_[c]) ? cell(row[columns_[c]]) : "-");
      width[c] = std::max(width[c], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto emit = [&](const std::vector<std::string>& line) {
    out << '|';
    for (size_t c = 0; c < line.size(); ++c) out << ' ' << line[c] << std::string(width[c] - line[c].size(), ' ') << " |";
    out << '\n';
  };
  emit(columns_);
  out << '|';
  for (size_t c = 0; c < columns_.size(); ++c) out << std::string(width[c] + 2, '-') << '|';
  out << '\n';
  for (const auto& line : cells) emit(line);
}

nlohmann::json Table::to_json() const { return nlohmann::json{{"rows", rows_}}; }

Status Table::write_json(const std::string& path) const {
  return core::write_file_atomic(path, to_json().dump(2) + "\n");
}

}  // namespace kvforge::eval
