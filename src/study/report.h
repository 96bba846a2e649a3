// A study's report folder: report.json, report.html (self-contained: Chart.js from Debian's
// libjs-chart.js inlined, the report's data embedded) and figures/*.png|svg drawn by gnuplot.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace scaledl::study {

// Writes report.json and report.html into `dir` and, when gnuplot is installed, the figures;
// returns the figure files written (empty without gnuplot, which is said on stderr).
std::vector<std::string> write_report(const nlohmann::json& report, const std::string& dir);

}  // namespace scaledl::study
