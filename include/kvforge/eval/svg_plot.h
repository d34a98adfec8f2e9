// Small, dependency-free SVG line charts for eval reports (one or more panels
// side by side, one line per series, a shared legend).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kvforge::eval {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in x order
};

struct PlotPanel {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<PlotSeries> series;
};

// A standalone SVG document. Series with the same name share a colour across panels.
std::string render_line_chart_svg(const std::string& title, const std::vector<PlotPanel>& panels);

}  // namespace kvforge::eval
