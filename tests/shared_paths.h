// Paths into ../shared (real weights, golden outputs, evaluation text).
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kvforge::testing {

inline std::string shared(const std::string& rel) { return std::string(KVF_SHARED_DIR) + "/" + rel; }
inline std::string model_dir() { return shared("models/stories260K/"); }
inline std::string golden_dir() { return shared("golden/stories260K/"); }

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

inline std::vector<std::vector<int32_t>> golden_ids() {
  std::vector<std::vector<int32_t>> out;
  for (const auto& line : lines(golden_dir() + "reference_texts.ids.txt")) {
    std::stringstream ss(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (ss >> id) ids.push_back(id);
    out.push_back(ids);
  }
  return out;
}

}  // namespace kvforge::testing
