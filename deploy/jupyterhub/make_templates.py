#!/usr/bin/python3
"""Writes the notebook templates in templates/ (nbformat 4, no outputs) that the hub copies
into each user's ~/scaledl-templates. Edit the cells here and rerun; the .ipynb files are
committed as this writes them.

usage: deploy/jupyterhub/make_templates.py [OUT_DIR]   (default: templates/ beside this file)
"""
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

# The first cell of every template: where scaledl and the runs folder are (the spawner sets
# SCALEDL_BIN and SCALEDL_RUNS in the job's environment).
SETUP = """\
import getpass, glob, json, os, subprocess, time

SCALEDL = os.environ.get("SCALEDL_BIN", "scaledl")
RUNS = os.environ.get("SCALEDL_RUNS", os.path.expanduser("~/scaledl-runs"))
USER = os.environ.get("USER") or getpass.getuser()
DATA = "idx:/usr/share/datasets/fashion-mnist"
MY_RUNS = os.path.join(RUNS, USER)  # the portal lists the runs under here as yours
os.makedirs(MY_RUNS, exist_ok=True)
print("scaledl:", SCALEDL)
print("runs:   ", MY_RUNS)"""

RUN = """\
def run(cmd):
    \"\"\"Runs a command, showing its output as it comes; fails on a non-zero exit.\"\"\"
    print("$", " ".join(cmd), flush=True)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as p:
        for line in p.stdout:
            print(line, end="", flush=True)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} {cmd[1]} exited with code {p.returncode}")"""

LATEST = """\
# The newest training run of yours (or set run_dir to any run folder).
candidates = sorted(glob.glob(os.path.join(MY_RUNS, "*", "steps.jsonl")), key=os.path.getmtime)
run_dir = os.path.dirname(candidates[-1]) if candidates else None
print("run folder:", run_dir or "none yet: run 01-train-fashion-mnist.ipynb first")"""


def train():
    return new_notebook(cells=[
        new_markdown_cell(
            "# Train on Fashion-MNIST with scaledl\n\n"
            "This notebook runs inside your Slurm job (the CPUs you chose on the spawn form). It "
            "trains scaledl's default residual network (`resnet_small`) for a short run: 300 "
            "steps of batch 64 on one thread, about a minute. The run folder goes under "
            "`$SCALEDL_RUNS/$USER/`, so the **scaledl portal** (`/services/scaledl/`) lists it "
            "and draws its loss while it trains. Larger runs belong in a batch job: submit them "
            "from the portal's *Submit* page."),
        new_code_cell(SETUP),
        new_code_cell(RUN),
        new_code_cell(
            'run_dir = os.path.join(MY_RUNS, time.strftime("notebook-%Y%m%d-%H%M%S"))\n'
            "print(\"run folder:\", run_dir)"),
        new_markdown_cell(
            "Train: `--steps 300` (less than an epoch of 938 steps), `--log-every 10` so the "
            "curves get a point every ten steps, an evaluation on the test split at the end. "
            "`scaledl train --help` lists every flag."),
        new_code_cell(
            "run([SCALEDL, \"train\", \"--data\", DATA, \"--steps\", \"300\", \"--batch\", \"64\",\n"
            "     \"--threads\", \"1\", \"--loader-threads\", \"1\", \"--log-every\", \"10\",\n"
            "     \"--run-dir\", run_dir])"),
        new_code_cell(
            "with open(os.path.join(run_dir, \"summary.json\")) as f:\n"
            "    s = json.load(f)\n"
            "print(f\"top-1 {s['top1']:.2f}%  top-5 {s['top5']:.2f}%  \"\n"
            "      f\"{s['images_per_sec']:.0f} images/s  {s['wall_seconds']:.1f} s\")\n"
            "print(\"checkpoint:\", os.path.join(run_dir, \"checkpoint.safetensors\"))"),
        new_markdown_cell(
            "Next: `02-watch-curves.ipynb` plots this run's curves, `03-serve-int8.ipynb` runs its "
            "checkpoint through the int8 inference engine."),
    ])


def curves():
    return new_notebook(cells=[
        new_markdown_cell(
            "# Loss and accuracy curves of a run\n\n"
            "Reads a run folder's `steps.jsonl` (one record per logged step: loss, learning "
            "rate, images/s) and `evals.jsonl` (one per evaluation: top-1, top-5, loss). Both "
            "grow while the run goes on; rerun the cells to see the latest points. Plots with "
            "matplotlib when it is installed, else prints a table."),
        new_code_cell(SETUP),
        new_code_cell(LATEST),
        new_code_cell(
            "def read_jsonl(path):\n"
            "    \"\"\"The records of a JSON-lines file; a line still being written is skipped.\"\"\"\n"
            "    records = []\n"
            "    if os.path.exists(path):\n"
            "        with open(path) as f:\n"
            "            for line in f:\n"
            "                try:\n"
            "                    records.append(json.loads(line))\n"
            "                except json.JSONDecodeError:\n"
            "                    pass\n"
            "    return records\n"
            "\n"
            "steps = read_jsonl(os.path.join(run_dir, \"steps.jsonl\"))\n"
            "evals = read_jsonl(os.path.join(run_dir, \"evals.jsonl\"))\n"
            "print(f\"{len(steps)} step records, {len(evals)} evaluations\")"),
        new_code_cell(
            "try:\n"
            "    import matplotlib.pyplot as plt\n"
            "except ImportError:\n"
            "    plt = None\n"
            "\n"
            "if plt is not None:\n"
            "    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.5))\n"
            "    ax1.plot([r[\"step\"] for r in steps], [r[\"loss\"] for r in steps])\n"
            "    ax1.set(xlabel=\"step\", ylabel=\"training loss\", title=os.path.basename(run_dir))\n"
            "    ax2.plot([r[\"step\"] for r in evals], [r[\"top1\"] for r in evals], \"o-\")\n"
            "    ax2.set(xlabel=\"step\", ylabel=\"top-1 (%)\", title=\"evaluation\")\n"
            "    plt.show()\n"
            "else:\n"
            "    print(\"matplotlib is not installed: a table instead\")\n"
            "    print(f\"{'step':>6} {'loss':>8} {'lr':>8} {'img/s':>8}\")\n"
            "    for r in steps[:: max(1, len(steps) // 15)] + steps[-1:]:\n"
            "        print(f\"{r['step']:>6} {r['loss']:>8.4f} {r['lr']:>8.4f} {r['images_per_sec']:>8.0f}\")\n"
            "    print(f\"\\n{'step':>6} {'top-1':>7} {'top-5':>7} {'loss':>8}\")\n"
            "    for r in evals:\n"
            "        print(f\"{r['step']:>6} {r['top1']:>7.2f} {r['top5']:>7.2f} {r['loss']:>8.4f}\")"),
    ])


def serve_int8():
    return new_notebook(cells=[
        new_markdown_cell(
            "# Serve the trained model in int8\n\n"
            "Runs the checkpoint of your newest training run through scaledl's inference "
            "engine in int8: activations calibrated on 500 training images (entropy, as "
            "TensorRT does), weights per channel. It reports the accuracy on the test split "
            "beside fp32's, and images/s and latency at batch 1 and 32. "
            "`scaledl infer --help` lists the flags."),
        new_code_cell(SETUP),
        new_code_cell(RUN),
        new_code_cell(LATEST),
        new_code_cell(
            "checkpoint = os.path.join(run_dir, \"checkpoint.safetensors\")\n"
            "out_dir = os.path.join(MY_RUNS, time.strftime(\"infer-int8-%Y%m%d-%H%M%S\"))\n"
            "run([SCALEDL, \"infer\", \"--checkpoint\", checkpoint, \"--precision\", \"int8\",\n"
            "     \"--calib-data\", DATA, \"--calib-images\", \"500\", \"--data\", DATA,\n"
            "     \"--batch\", \"1,32\", \"--seconds\", \"2\", \"--threads\", \"1\", \"--run-dir\", out_dir])"),
        new_code_cell(
            "with open(os.path.join(out_dir, \"summary.json\")) as f:\n"
            "    s = json.load(f)\n"
            "print(f\"int8 top-1 {s['top1']:.2f}% (fp32 {s['fp32_top1']:.2f}%, \"\n"
            "      f\"{s['top1_delta']:+.2f} points)\")\n"
            "for b, ips in s[\"images_per_sec\"].items():\n"
            "    lat = s[\"latency_ms\"][b]\n"
            "    print(f\"batch {b:>3}: {ips:8.0f} images/s  p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms\")"),
    ])


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "templates"
    out.mkdir(parents=True, exist_ok=True)
    for name, make in (("01-train-fashion-mnist", train), ("02-watch-curves", curves),
                       ("03-serve-int8", serve_int8)):
        nb = make()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        for i, cell in enumerate(nb.cells):  # stable ids: the files change only when cells do
            cell["id"] = f"{name[:2]}-{i}"
        nbformat.validate(nb)
        path = out / f"{name}.ipynb"
        nbformat.write(nb, str(path))
        print(path)


if __name__ == "__main__":
    main()
