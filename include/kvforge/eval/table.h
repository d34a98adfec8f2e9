// Rows of results shown two ways: a human table on stdout and, with --json,
// a file {"rows": [...]} written atomically. Column names are the JSON field
// names, so what a person reads and what a script parses agree.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvforge/core/status.h"

namespace kvforge::eval {

class Table {
 public:
  explicit Table(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  // Fields missing from `row` print as "-"; extra fields go to JSON only.
  void add(nlohmann::json row) { rows_.push_back(std::move(row)); }
  const std::vector<nlohmann::json>& rows() const { return rows_; }

  void print(std::ostream& out) const;
  nlohmann::json to_json() const;
  Status write_json(const std::string& path) const;

 private:
  std::vector<std::string> columns_;
  std::vector<nlohmann::json> rows_;
};

}  // namespace kvforge::eval
