#include "kvforge/eval/svg_plot.h"

#include <gtest/gtest.h>

#include <limits>

namespace kvforge::eval {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(SvgPlot, DrawsOnePathPerSeriesPerPanelAndALegendEntryPerName) {
  PlotPanel a{"prefill", "budget", "delta ppl (%)", {{"roco", {{0.1, 5}, {0.5, 1}, {0.2, 2}}}, {"h2o", {{0.1, 7}}}}};
  PlotPanel b{"decode", "budget", "delta ppl (%)", {{"roco", {{0.1, 3}}}, {"tova <x>", {{0.1, 4}}}}};
  const std::string svg = render_line_chart_svg("title & more", {a, b});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "<path "), 4u);
  EXPECT_EQ(count(svg, "<circle "), 6u);
  EXPECT_NE(svg.find("title &amp; more"), std::string::npos);
  EXPECT_NE(svg.find("tova &lt;x&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<x>"), std::string::npos);
  // Points are joined in x order whatever order they were given in.
  const size_t path = svg.find("<path d=\"M");
  ASSERT_NE(path, std::string::npos);
}

TEST(SvgPlot, SurvivesEmptyAndNonFiniteData) {
  PlotPanel p{"empty", "x", "y", {{"s", {{0.1, std::numeric_limits<double>::infinity()}}}}};
  const std::string svg = render_line_chart_svg("t", {p});
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

}  // namespace
}  // namespace kvforge::eval
