// The portal's static files: its one style sheet and one script (no inline scripts anywhere, so
// the Content-Security-Policy allows scripts from the portal itself only), and Chart.js as
// Debian's libjs-chart.js installs it, served by the portal (no CDN).
#pragma once
#include <string>

namespace scaledl::portal {

const std::string& portal_css();
const std::string& portal_js();
// Chart.js read from `path` ("" when it cannot be read: the pages then say why there are no
// charts, and still count the points).
std::string load_chart_js(const std::string& path);
// Where Debian's libjs-chart.js puts the minified build.
constexpr const char* kDefaultChartJs = "/usr/share/javascript/chart.js/chart.min.js";

}  // namespace scaledl::portal
