#include "kvforge/eval/documents.h"

#include <fstream>

namespace kvforge::eval {

Result<std::vector<std::vector<int32_t>>> load_documents(const std::string& path, const model::Tokenizer& tokenizer,
                                                         const DocumentOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open text file " + path);
  std::vector<std::vector<int32_t>> docs;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<int32_t> ids = tokenizer.encode(line, options.add_bos);
    if (options.window > 0 && ids.size() > options.window) ids.resize(options.window);
    if (ids.size() < 2) continue;  // nothing to score
    docs.push_back(std::move(ids));
    if (options.limit > 0 && docs.size() >= options.limit) break;
  }
  if (in.bad()) return Status::IOError("error reading " + path);
  if (docs.empty()) return Status::InvalidArgument(path + " holds no document (one per non-empty line)");
  return docs;
}

}  // namespace kvforge::eval
