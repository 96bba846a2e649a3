// report.json, figures (gnuplot, in the style of the studies' figures: images/s and speedup
// against ranks with the ideal line, efficiency, precision gains, storage and network MB/s per
// node over time) and a self-contained HTML page.
#include "study/report.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/subprocess.h"

namespace scaledl::study {
namespace fs = std::filesystem;
namespace {

constexpr const char* kChartJs = "/usr/share/javascript/chart.js/chart.min.js";

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The completed cells grouped into lines: by precision and batch (label "fp32 b32").
std::map<std::string, std::vector<const nlohmann::json*>> lines_of(const nlohmann::json& cells) {
  std::map<std::string, std::vector<const nlohmann::json*>> lines;
  for (const auto& c : cells) {
    if (c["status"] != "completed") continue;
    const int b = c["batch"].get<int>();
    lines[c["precision"].get<std::string>() + (b ? " b" + std::to_string(b) : "")].push_back(&c);
  }
  return lines;
}

// One gnuplot figure in PNG and SVG: `plot` is the plot command over files in `dir`.
std::vector<std::string> draw(const std::string& dir, const std::string& name,
                              const std::string& setup, const std::string& plot) {
  std::vector<std::string> out;
  for (const auto& [term, ext] : {std::pair{"pngcairo size 900,560 font ',11'", "png"},
                                  std::pair{"svg size 900,560 dynamic font 'sans,11'", "svg"}}) {
    const std::string file = dir + "/" + name + "." + ext;
    const std::string gp = dir + "/" + name + "." + ext + ".gp";
    write_file_atomic(gp, std::string("set terminal ") + term +
                              "\nset termoption noenhanced\nset output '" + file +
                              "'\nset grid\nset key top left\n" + setup + "\n" + plot + "\n");
    const ProcessResult r = run_process({"gnuplot", gp}, 60);
    if (r.exit_code != 0) throw Error("study", "gnuplot failed on " + gp + ": " + one_line(r));
    fs::remove(gp);
    out.push_back(file);
  }
  return out;
}

std::vector<std::string> figures(const nlohmann::json& report, const std::string& dir) {
  const auto lines = lines_of(report["cells"]);
  if (lines.empty()) return {};
  std::vector<std::string> files;
  const std::string study = report["study"];
  // Data files: one per line, columns ranks ips ideal_ips speedup ideal efficiency batch gain.
  std::string plot_ips = "plot ", plot_speed = "plot x title 'ideal' dt 2 lc 'gray', ",
              plot_eff = "plot ", plot_batch = "plot ";
  int i = 0;
  for (const auto& [label, cells] : lines) {
    const std::string dat = dir + "/line" + std::to_string(i) + ".dat";
    std::ostringstream d;
    for (const auto* c : cells) {
      const double ips = (*c)["images_per_sec"], speedup = (*c)["speedup"],
                   ideal = (*c)["ideal_speedup"];
      d << (*c)["ranks"].get<int>() << ' ' << ips << ' ' << ips / speedup * ideal << ' ' << speedup
        << ' ' << ideal << ' ' << (*c)["efficiency"].get<double>() * 100 << ' '
        << (*c)["batch"].get<int>() << '\n';
    }
    write_file_atomic(dat, d.str());
    const std::string q = "'" + dat + "'";
    if (i) plot_ips += ", ", plot_speed += ", ", plot_eff += ", ", plot_batch += ", ";
    plot_ips += q + " using 1:2 with linespoints lw 2 pt 7 title '" + label + "', " + q +
                " using 1:3 with lines dt 2 title '" + label + " ideal'";
    plot_speed += q + " using 1:4 with linespoints lw 2 pt 7 title '" + label + "'";
    plot_eff += q + " using 1:6 with linespoints lw 2 pt 7 title '" + label + "'";
    plot_batch += q + " using 7:2 with linespoints lw 2 pt 7 title '" + label + "'";
    ++i;
  }
  const std::string model = report["model"];
  auto add = [&](const std::vector<std::string>& f) {
    files.insert(files.end(), f.begin(), f.end());
  };
  if (study == "batch") {
    add(draw(dir, "throughput",
             "set title '" + model +
                 ": images/s by batch per rank'\nset xlabel 'batch per rank'\nset ylabel "
                 "'images/s'\nset logscale x 2",
             plot_batch));
  } else {
    add(draw(dir, "throughput",
             "set title '" + model +
                 ": images/s'\nset xlabel 'ranks'\nset ylabel 'images/s'\nset xtics 1",
             plot_ips));
    add(draw(
        dir, "speedup",
        "set title '" + model + ": speedup'\nset xlabel 'ranks'\nset ylabel 'speedup'\nset xtics 1",
        plot_speed));
    add(draw(dir, "efficiency",
             "set title '" + model +
                 ": scaling efficiency'\nset xlabel 'ranks'\nset ylabel 'percent of ideal'\nset "
                 "yrange [0:110]\nset xtics 1",
             plot_eff));
  }
  // Precision gains: bars of images/s per cell.
  if (study == "precision") {
    std::ostringstream d;
    for (const auto& c : report["cells"])
      if (c["status"] == "completed")
        d << '"' << c["name"].get<std::string>() << "\" " << c["images_per_sec"].get<double>()
          << '\n';
    write_file_atomic(dir + "/precision.dat", d.str());
    add(draw(dir, "precision",
             "set title '" + model +
                 ": images/s by precision'\nset style fill solid 0.6\nset boxwidth 0.6\nset ylabel "
                 "'images/s'\nset yrange [0:*]",
             "plot '" + dir + "/precision.dat' using 0:2:xtic(1) with boxes notitle"));
  }
  // Storage and network MB/s per node over time (the first completed run of each cell).
  std::string plot_io = "plot ";
  int n = 0;
  for (const auto& c : report["cells"]) {
    if (c["status"] != "completed") continue;
    for (const auto& r : c["runs"]) {
      if (r["status"] != "completed" || !r.contains("series") || r["series"]["t"].empty()) continue;
      std::ostringstream d;
      const auto& s = r["series"];
      for (size_t k = 0; k < s["t"].size(); ++k)
        d << s["t"][k].get<double>() << ' ' << s["disk_read_mb_s"][k].get<double>() << ' '
          << s["net_tx_mb_s"][k].get<double>() << '\n';
      const std::string dat = dir + "/io" + std::to_string(n) + ".dat";
      write_file_atomic(dat, d.str());
      if (n) plot_io += ", ";
      const std::string name = c["name"];
      plot_io += "'" + dat + "' using 1:2 with lines lw 2 title '" + name + " storage read', '" +
                 dat + "' using 1:3 with lines dt 2 lw 2 title '" + name + " network sent'";
      ++n;
      break;
    }
  }
  if (n)
    add(draw(dir, "io_over_time",
             "set title 'storage read and network sent per node'\nset xlabel 'seconds'\nset ylabel "
             "'MB/s'\nset yrange [0:*]",
             plot_io));
  return files;
}

std::string html(const nlohmann::json& report) {
  std::string data = report.dump();
  for (size_t at = data.find("</"); at != std::string::npos; at = data.find("</", at + 3))
    data.replace(at, 2, "<\\/");
  std::string chart = read_file(kChartJs);
  if (chart.empty())
    throw Error("study", std::string("cannot read ") + kChartJs +
                             " (Debian's libjs-chart.js; scripts/setup installs it)");
  std::string page =
      R"(<!doctype html><html><head><meta charset="utf-8"><title>scaledl study</title>
<style>body{font:14px sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}
.failed{color:#b00}canvas{max-height:380px;margin:1em 0}</style></head><body>
<h1 id="title"></h1><p id="what"></p><table id="cells"></table>
<canvas id="ips"></canvas><canvas id="speedup"></canvas><canvas id="io"></canvas>
<p>Figures (PNG, SVG) are in figures/ beside this page; every number is in report.json.</p>
<script>)" +
      chart + R"(</script><script>
const R = )" +
      data + R"(;
Chart.defaults.animation = false;
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const colored = sets => sets.map((d, i) => Object.assign({borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], borderWidth: 2}, d));
document.getElementById('title').textContent = `scaledl study ${R.study}: ${R.model}`;
document.getElementById('what').textContent = `data ${R.data}, ${R.steps} steps per run, ${R.repeats} round(s), ${R.threads_per_rank} thread(s) per rank, launched with ${R.launcher}`;
const t = document.getElementById('cells');
const keys = ['name','ranks','precision','batch','images_per_sec','images_per_sec_per_rank','speedup','efficiency','gain_over_fp32','disk_read_mb_s','net_tx_mb_s'];
t.insertRow().innerHTML = keys.map(k => `<th>${k}</th>`).join('') + '<th>runs</th>';
for (const c of R.cells) {
  const row = t.insertRow();
  for (const k of keys) { const v = k === 'batch' && !c[k] ? 'default' : c[k]; row.insertCell().textContent = v === undefined ? '' : (typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : v); }
  const cell = row.insertCell();
  cell.textContent = c.runs.map(r => r.status === 'completed' ? Math.round(r.images_per_sec) : 'failed: ' + r.error).join('; ');
  if (c.status !== 'completed') row.className = 'failed';
}
const ok = R.cells.filter(c => c.status === 'completed');
const groups = {};
for (const c of ok) (groups[c.precision + (c.batch ? ' b' + c.batch : '')] ||= []).push(c);
const xs = R.study === 'batch' ? 'batch' : 'ranks';
new Chart(document.getElementById('ips'), {type: 'line', data: {datasets: colored(Object.entries(groups).map(([k, v]) => ({label: k + ' images/s', data: v.map(c => ({x: c[xs], y: c.images_per_sec}))})))},
  options: {parsing: true, scales: {x: {type: 'linear', title: {display: true, text: xs}}, y: {title: {display: true, text: 'images/s'}}}}});
new Chart(document.getElementById('speedup'), {type: 'line', data: {datasets: colored([{label: 'ideal', borderColor: '#888', borderDash: [6, 4], data: ok.map(c => ({x: c.ranks, y: c.ideal_speedup}))}].concat(Object.entries(groups).map(([k, v]) => ({label: k + ' speedup', data: v.map(c => ({x: c.ranks, y: c.speedup}))}))))},
  options: {scales: {x: {type: 'linear', title: {display: true, text: 'ranks'}}, y: {title: {display: true, text: 'speedup'}}}}});
const io = [];
for (const c of ok) { const r = c.runs.find(r => r.status === 'completed' && r.series && r.series.t.length); if (!r) continue;
  io.push({label: c.name + ' storage read MB/s', data: r.series.t.map((x, i) => ({x, y: r.series.disk_read_mb_s[i]}))});
  io.push({label: c.name + ' network sent MB/s', borderDash: [4, 3], data: r.series.t.map((x, i) => ({x, y: r.series.net_tx_mb_s[i]}))}); }
new Chart(document.getElementById('io'), {type: 'line', data: {datasets: colored(io)}, options: {scales: {x: {type: 'linear', title: {display: true, text: 'seconds'}}, y: {title: {display: true, text: 'MB/s per node'}}}}});
</script></body></html>
)";
  return page;
}

}  // namespace

std::vector<std::string> write_report(const nlohmann::json& report, const std::string& dir) {
  write_file_atomic(dir + "/report.json", report.dump(2) + "\n");
  write_file_atomic(dir + "/report.html", html(report));
  std::vector<std::string> files;
  try {
    fs::create_directories(dir + "/figures");
    files = figures(report, dir + "/figures");
  } catch (const Error& e) {
    if (e.component() != "process") throw;
    std::fprintf(stderr, "scaledl study: no figures: %s (apt-get install gnuplot-nox)\n",
                 e.message().c_str());
  }
  return files;
}

}  // namespace scaledl::study
