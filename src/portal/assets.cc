// portal.css, portal.js and Chart.js.
#include "portal/assets.h"

#include <fstream>
#include <sstream>

namespace scaledl::portal {

const std::string& portal_css() {
  static const std::string css = R"CSS(
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2330; background: #fafbfc; }
header { background: #24303f; color: #fff; padding: 0.5em 1em; display: flex; gap: 1.2em;
         align-items: center; }
header a { color: #dfe8f5; text-decoration: none; }
header a:hover { text-decoration: underline; }
header .who { margin-left: auto; color: #b8c4d4; }
header form { display: inline; }
header button { background: none; border: 1px solid #70809a; color: #dfe8f5; cursor: pointer; }
main { padding: 1em 1.5em; }
h1 { font-size: 1.3em; }
h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #d5dbe3; padding: 0.25em 0.6em; text-align: left; font-size: 0.92em; }
th[data-key] { cursor: pointer; user-select: none; background: #eef2f7; }
th.sorted-asc::after { content: " \25B2"; }
th.sorted-desc::after { content: " \25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.differs { background: #fff3c4; }
.state-running { color: #1565c0; font-weight: 600; }
.state-completed { color: #2e7d32; }
.state-failed, .state-lost { color: #c62828; font-weight: 600; }
.state-stopped { color: #ef6c00; }
#filter { padding: 0.3em; width: 20em; margin-bottom: 0.8em; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr));
          gap: 1em; }
.chart { background: #fff; border: 1px solid #d5dbe3; padding: 0.5em; }
.chart h3 { margin: 0 0 0.3em 0; font-size: 0.95em; }
.note { color: #5b6675; font-size: 0.9em; }
.error { color: #c62828; }
.hidden { display: none; }
form#submit label { display: block; margin: 0.5em 0 0.1em 0; }
form#submit input, form#submit select { padding: 0.3em; min-width: 12em; }
form#submit input[name=args] { width: 40em; }
pre { background: #fff; border: 1px solid #d5dbe3; padding: 0.6em; overflow: auto; }
#submitted { background: #e7f4e8; border: 1px solid #9ccc9f; padding: 0.5em; }
)CSS";
  return css;
}

const std::string& portal_js() {
  static const std::string js = R"JS(
'use strict';
// scaledl portal: table filter and sort, live run curves, comparisons. Settings come from
// data- attributes on <body>; nothing here is inline in a page.
(function () {
  const body = document.body;
  const base = body.dataset.base || '/';
  const pathOf = (id) => id.split('/').map(encodeURIComponent).join('/');

  function numeric(v) { return v !== '' && v !== undefined && !isNaN(Number(v)); }

  function setupTable(table, filter) {
    const rows = () => Array.from(table.tBodies[0].rows);
    if (filter) {
      filter.addEventListener('input', () => {
        const q = filter.value.toLowerCase();
        for (const r of rows()) r.classList.toggle('hidden', !r.textContent.toLowerCase().includes(q));
      });
    }
    for (const th of table.querySelectorAll('th[data-key]')) {
      th.addEventListener('click', () => {
        const key = th.dataset.key;
        const asc = !th.classList.contains('sorted-asc');
        for (const h of table.querySelectorAll('th')) h.classList.remove('sorted-asc', 'sorted-desc');
        th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
        const value = (r) => {
          const td = r.querySelector('td[data-key="' + CSS.escape(key) + '"]');
          return td ? (td.dataset.value !== undefined ? td.dataset.value : td.textContent) : '';
        };
        const sorted = rows().sort((a, b) => {
          const x = value(a), y = value(b);
          if (x === '' && y !== '') return 1;   // runs without the metric go last
          if (y === '' && x !== '') return -1;
          const c = numeric(x) && numeric(y) ? Number(x) - Number(y) : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        for (const r of sorted) table.tBodies[0].appendChild(r);
      });
    }
  }

  const palette = ['#1565c0', '#c62828', '#2e7d32', '#ef6c00', '#6a1b9a', '#00838f', '#5d4037', '#ad1457'];

  function makeChart(id, xLabel, yLabel) {
    const canvas = document.getElementById(id);
    if (!canvas || typeof Chart === 'undefined') return null;
    return new Chart(canvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        animation: false, parsing: false, normalized: true, responsive: true,
        elements: { point: { radius: 0 }, line: { borderWidth: 1.5 } },
        interaction: { mode: 'nearest', intersect: false },
        scales: { x: { type: 'linear', title: { display: true, text: xLabel } },
                  y: { title: { display: true, text: yLabel } } },
      },
    });
  }

  function dataset(chart, label, index) {
    let d = chart.data.datasets.find((s) => s.label === label);
    if (!d) {
      const color = palette[(chart.data.datasets.length + index) % palette.length];
      d = { label: label, data: [], borderColor: color, backgroundColor: color };
      chart.data.datasets.push(d);
    }
    return d;
  }

  // One run's live series: polls the API, appends only new points.
  class Follower {
    constructor(id, charts, label, index, onPoints) {
      this.id = id; this.charts = charts; this.label = label; this.index = index;
      this.since = ''; this.loss = 0; this.t0 = null; this.onPoints = onPoints; this.idle = 0;
    }
    url() { return base + 'api/runs/' + pathOf(this.id) + '/series?since=' + encodeURIComponent(this.since); }
    add(chartName, label, points, xShift) {
      const c = this.charts[chartName];
      if (!c || points.length === 0) return;
      const d = dataset(c, label, this.index);
      for (const p of points) d.data.push({ x: p[0] - (xShift || 0), y: p[1] });
    }
    clear() {
      for (const c of Object.values(this.charts)) {
        if (!c) continue;
        for (const d of c.data.datasets) if (d.label.startsWith(this.label)) d.data = [];
      }
      this.loss = 0; this.t0 = null;
    }
    async poll() {
      const r = await fetch(this.url(), { credentials: 'same-origin' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const s = await r.json();
      if (s.reset) this.clear();
      const L = this.label;
      this.add('loss', L + 'loss', s.loss);
      this.add('top1', L + 'top-1 %', s.top1);
      this.add('ips', L + 'images/s', s.ips);
      const m = s.monitor || {};
      const first = Object.values(m).find((v) => v.length > 0);
      if (first && this.t0 === null) this.t0 = first[0][0];
      const t0 = this.t0 || 0;
      this.add('cpu', L + 'CPU % (process)', m.cpu || [], t0);
      this.add('mem', L + 'RSS MB', m.rss || [], t0);
      this.add('io', L + 'disk read MB/s', m.disk_read || [], t0);
      this.add('io', L + 'disk write MB/s', m.disk_write || [], t0);
      this.add('io', L + 'net rx MB/s', m.net_rx || [], t0);
      this.add('io', L + 'net tx MB/s', m.net_tx || [], t0);
      this.loss += s.loss.length;
      const got = s.loss.length + s.top1.length + s.ips.length + (first ? 1 : 0);
      this.idle = got ? 0 : this.idle + 1;
      this.since = s.next;
      if (this.onPoints) this.onPoints(this, s);
      return s;
    }
  }

  function updateCharts(charts) {
    for (const c of Object.values(charts)) if (c) c.update('none');
  }

  function runCharts() {
    return {
      loss: makeChart('chart-loss', 'step', 'loss'),
      top1: makeChart('chart-top1', 'step', 'top-1 %'),
      ips: makeChart('chart-ips', 'step', 'images/s'),
      cpu: makeChart('chart-cpu', 'seconds', 'CPU %'),
      mem: makeChart('chart-mem', 'seconds', 'MB'),
      io: makeChart('chart-io', 'seconds', 'MB/s'),
    };
  }

  function noChartsNote() {
    if (typeof Chart !== 'undefined') return;
    for (const el of document.querySelectorAll('.chart-missing')) el.classList.remove('hidden');
  }

  // Polls every 2 s while anything is new or the run is live; slower once it is quiet.
  function follow(followers, charts, status) {
    const tick = async () => {
      let live = false;
      try {
        for (const f of followers) {
          await f.poll();
          if (f.idle < 30 || body.dataset.state === 'running') live = true;
        }
        updateCharts(charts);
        if (status) status.textContent = '';
      } catch (e) {
        if (status) status.textContent = 'update failed: ' + e.message + ' (retrying)';
        live = true;
      }
      setTimeout(tick, live ? 2000 : 10000);
    };
    tick();
  }

  function runPage() {
    const charts = runCharts();
    noChartsNote();
    const counter = document.getElementById('points-loss');
    const monitor = document.getElementById('monitor-charts');
    const f = new Follower(body.dataset.run, charts, '', 0, (fl, s) => {
      if (counter) counter.textContent = String(fl.loss);
      const m = s.monitor || {};
      if (monitor && Object.values(m).some((v) => v.length > 0)) monitor.classList.remove('hidden');
    });
    follow([f], charts, document.getElementById('poll-status'));
  }

  function comparePage() {
    const charts = runCharts();
    noChartsNote();
    const ids = JSON.parse(body.dataset.runs || '[]');
    const followers = ids.map((id, i) => new Follower(id, charts, id + ': ', i, null));
    follow(followers, charts, document.getElementById('poll-status'));
  }

  document.addEventListener('DOMContentLoaded', () => {
    const runs = document.getElementById('runs');
    if (runs) setupTable(runs, document.getElementById('filter'));
    const jobs = document.getElementById('jobs');
    if (jobs) setupTable(jobs, document.getElementById('filter'));
    if (body.dataset.page === 'run') runPage();
    if (body.dataset.page === 'compare') comparePage();
  });
})();
)JS";
  return js;
}

std::string load_chart_js(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace scaledl::portal
