"""Checks a study's report folder against the runs' own records: every cell's images/s is the
median of its completed runs' summary.json values, speedup, efficiency and precision gains follow
from those, failed runs carry their error line, the figures are real PNG and SVG files and the
HTML page embeds Chart.js and the report. usage: check_report.py REPORT_DIR [CELL=failed ...]"""
import json
import os
import statistics
import sys
import xml.etree.ElementTree as ET

folder = sys.argv[1]
want_failed = {a.split("=")[0] for a in sys.argv[2:]}
report = json.load(open(os.path.join(folder, "report.json")))
cells = {c["name"]: c for c in report["cells"]}
close = lambda a, b: abs(a - b) <= 1e-9 * max(1.0, abs(b))

for name, c in cells.items():
    done = [r for r in c["runs"] if r["status"] == "completed"]
    if name in want_failed:
        assert c["status"] == "failed" and not done, f"{name} should have failed"
        for r in c["runs"]:
            assert r["error"] and "error" in r["error"], f"{name}: no error line: {r}"
            assert os.path.exists(r["log"]), r["log"]
        continue
    assert c["status"] == "completed" and done, f"{name}: {c['runs']}"
    ips = []
    for r in done:
        s = json.load(open(os.path.join(r["run_dir"], "summary.json")))
        assert close(r["images_per_sec"], s["images_per_sec"]), (name, r["images_per_sec"])
        assert s["world_size"] == c["ranks"], (name, s["world_size"])
        assert s["config"]["precision"] == c["precision"], (name, s["config"]["precision"])
        assert s["steps"] == report["steps"], (name, s["steps"])
        assert close(r["disk_read_mb_s"], s["monitor"]["mean"]["disk_read_mb_s"])
        ips.append(s["images_per_sec"])
    assert close(c["images_per_sec"], statistics.median(ips)), (name, c["images_per_sec"], ips)

for name, c in cells.items():
    if c["status"] != "completed":
        continue
    base = min((o for o in cells.values() if o["status"] == "completed" and
                o["precision"] == c["precision"] and o["batch"] == c["batch"]), key=lambda o: o["ranks"])
    assert c["baseline"] == base["name"]
    assert close(c["speedup"], c["images_per_sec"] / base["images_per_sec"])
    assert close(c["efficiency"], c["speedup"] / (c["ranks"] / base["ranks"]))
    fp32 = [o for o in cells.values() if o["status"] == "completed" and o["precision"] == "fp32"
            and o["ranks"] == c["ranks"] and o["batch"] == c["batch"]]
    if c["precision"] != "fp32" and fp32:
        assert close(c["gain_over_fp32"], c["images_per_sec"] / fp32[0]["images_per_sec"] - 1)

figs = os.path.join(folder, "figures")
names = sorted(os.listdir(figs))
pngs = [n for n in names if n.endswith(".png")]
svgs = [n for n in names if n.endswith(".svg")]
assert pngs and len(pngs) == len(svgs), names
for n in pngs:
    assert open(os.path.join(figs, n), "rb").read(8) == b"\x89PNG\r\n\x1a\n", n
for n in svgs:
    assert ET.parse(os.path.join(figs, n)).getroot().tag.endswith("svg"), n
page = open(os.path.join(folder, "report.html")).read()
assert "new Chart(" in page and "Chart.js v" in page and "http" not in page.split("<script>")[0]
assert json.dumps(report["cells"][0]["name"]) in page
print(f"check_report: {len(cells)} cells, {len(pngs)} PNG + {len(svgs)} SVG figures: ok")
