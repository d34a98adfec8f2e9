#include "kvforge/eval/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>

namespace kvforge::eval {

namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// Tick positions at a 1/2/5 x 10^k step covering [lo, hi].
std::vector<double> ticks(double lo, double hi) {
  const double span = hi - lo;
  const double raw = span / 5.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  }
  std::vector<double> out;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
  return out;
}

// Panel geometry in pixels: plot area, margins, and the legend column.
constexpr double kPanelW = 420, kPanelH = 320, kMarginL = 64, kMarginR = 16, kMarginT = 48, kMarginB = 52,
                 kLegendW = 150;

// A panel's plot area at (x0, y0) and the data ranges it maps.
struct Axes {
  double x0, y0, xmin, xmax, ymin, ymax;
  double sx(double x) const { return x0 + (x - xmin) / (xmax - xmin) * kPanelW; }
  double sy(double y) const { return y0 + kPanelH - (y - ymin) / (ymax - ymin) * kPanelH; }
};

// Ranges over the finite points, y from 0 at most, padded 5% above.
Axes fit_axes(const PlotPanel& p, double x0, double y0) {
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
  for (const auto& s : p.series) {
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      xmin = std::min(xmin, x);
      xmax = std::max(xmax, x);
      ymin = std::min(ymin, y);
      ymax = std::max(ymax, y);
    }
  }
  if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  ymin = std::min(ymin, 0.0);
  if (xmax - xmin < 1e-12) xmax = xmin + 1;
  if (ymax - ymin < 1e-12) ymax = ymin + 1;
  const double pad_y = (ymax - ymin) * 0.05;
  ymax += pad_y;
  return {x0, y0, xmin, xmax, ymin, ymax};
}

// Title, frame, grid lines with tick labels, and axis labels.
void draw_frame(std::ostringstream& o, const PlotPanel& p, const Axes& a) {
  const double x0 = a.x0, y0 = a.y0, pw = kPanelW, ph = kPanelH;
  o << "<g>\n<text x=\"" << x0 + pw / 2 << "\" y=\"" << y0 - 10 << "\" text-anchor=\"middle\" font-size=\"13\">"
    << escape(p.title) << "</text>\n";
  o << "<rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (double t : ticks(a.ymin, a.ymax)) {
    o << "<line x1=\"" << x0 << "\" x2=\"" << x0 + pw << "\" y1=\"" << a.sy(t) << "\" y2=\"" << a.sy(t)
      << "\" stroke=\"#ddd\"/><text x=\"" << x0 - 6 << "\" y=\"" << a.sy(t) + 4 << "\" text-anchor=\"end\">" << num(t)
      << "</text>\n";
  }
  for (double t : ticks(a.xmin, a.xmax)) {
    o << "<line x1=\"" << a.sx(t) << "\" x2=\"" << a.sx(t) << "\" y1=\"" << y0 << "\" y2=\"" << y0 + ph
      << "\" stroke=\"#eee\"/><text x=\"" << a.sx(t) << "\" y=\"" << y0 + ph + 16 << "\" text-anchor=\"middle\">"
      << num(t) << "</text>\n";
  }
  o << "<text x=\"" << x0 + pw / 2 << "\" y=\"" << y0 + ph + 38 << "\" text-anchor=\"middle\">" << escape(p.x_label)
    << "</text>\n";
  o << "<text transform=\"translate(" << x0 - 46 << "," << y0 + ph / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
    << escape(p.y_label) << "</text>\n";
}

// Each series as a line through its points in x order, a titled dot per point.
void draw_series(std::ostringstream& o, const PlotPanel& p, const Axes& a,
                 std::map<std::string, std::string>& colour) {
  for (const auto& s : p.series) {
    auto pts = s.points;
    std::sort(pts.begin(), pts.end());
    std::string path;
    for (const auto& [x, y] : pts) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      path += (path.empty() ? "M" : " L") + num(a.sx(x)) + "," + num(a.sy(y));
    }
    o << "<path d=\"" << path << "\" fill=\"none\" stroke=\"" << colour[s.name] << "\" stroke-width=\"2\"/>\n";
    for (const auto& [x, y] : pts) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      o << "<circle cx=\"" << a.sx(x) << "\" cy=\"" << a.sy(y) << "\" r=\"3\" fill=\"" << colour[s.name]
        << "\"><title>" << escape(s.name) << ": (" << num(x) << ", " << num(y) << ")</title></circle>\n";
    }
  }
}

}  // namespace

std::string render_line_chart_svg(const std::string& title, const std::vector<PlotPanel>& panels) {
  const double pw = kPanelW, ph = kPanelH, ml = kMarginL, mr = kMarginR, mt = kMarginT, mb = kMarginB,
               legend_w = kLegendW;
  const double width = ml + panels.size() * (pw + ml + mr) + legend_w, height = ph + mt + mb;
  std::map<std::string, std::string> colour;
  for (const auto& p : panels) {
    for (const auto& s : p.series) {
      if (!colour.count(s.name)) colour[s.name] = kPalette[colour.size() % (sizeof kPalette / sizeof *kPalette)];
    }
  }
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << width / 2 << "\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">" << escape(title)
    << "</text>\n";
  for (size_t i = 0; i < panels.size(); ++i) {
    const Axes a = fit_axes(panels[i], ml + i * (pw + ml + mr), mt);
    draw_frame(o, panels[i], a);
    draw_series(o, panels[i], a, colour);
    o << "</g>\n";
  }
  const double lx = width - legend_w + 10;
  double ly = mt + 10;
  for (const auto& [name, c] : colour) {
    o << "<line x1=\"" << lx << "\" x2=\"" << lx + 22 << "\" y1=\"" << ly << "\" y2=\"" << ly << "\" stroke=\"" << c
      << "\" stroke-width=\"3\"/><text x=\"" << lx + 28 << "\" y=\"" << ly + 4 << "\">" << escape(name) << "</text>\n";
    ly += 20;
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace kvforge::eval
