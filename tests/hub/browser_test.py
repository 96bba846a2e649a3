#!/usr/bin/python3
"""Browser tests of the notebook side: a real JupyterHub (PAM login, batchspawner on a private
Slurm), the classic notebook, and the scaledl portal service, driven through headless Chromium
(python3-selenium, chromium-driver). Run by tests/hub/run_browser.sh, which starts
tests/hub/hub_harness.sh and passes its exports (HUB_URL, HUB_PASSWORDS, SLURM_CONF,
SCALEDL_RUNS). One line per case: PASS/FAIL/SKIP, name, seconds; later cases need the earlier
ones (a failed case skips those that depend on it).

usage: browser_test.py            (environment from hub_harness.sh start)
Environment: SCALEDL_SCREENSHOTS (folder for portal-*.png; none when unset),
             BROWSER_TEST_NO_PORTAL=1 (stop after the notebook cases: the hub side alone).
exit: 0 all passed, 1 a case failed.
"""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

HUB = os.environ["HUB_URL"].rstrip("/")
RUNS = os.environ["SCALEDL_RUNS"]
PORTAL = f"{HUB}/services/scaledl"
SHOTS = os.environ.get("SCALEDL_SCREENSHOTS", "")
PASSWORDS = dict(line.strip().split(":", 1) for line in open(os.environ["HUB_PASSWORDS"]) if ":" in line)
ALICE, BOB = "sdl-alice", "sdl-bob"


class Skip(Exception):
    """A case that cannot run because one it needs failed."""


def log(msg):
    print(msg, flush=True)


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--force-device-scale-factor=1", "--lang=en-US"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    return driver


def quit_quietly(driver):
    """Ends a browser; one whose driver is already gone (a signal reached it too) is fine."""
    try:
        driver.quit()
    except (WebDriverException, OSError):
        pass


def on_sigterm(*_):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up must not be interrupted
    sys.exit(1)


def wait(driver, seconds, cond, what):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.25).until(cond)
    except TimeoutException:
        raise AssertionError(f"timed out after {seconds} s waiting for {what} "
                             f"(at {driver.current_url})") from None


def until(seconds, fn, what, every=1.0):
    """Polls fn() until it returns something truthy; returns it."""
    end = time.time() + seconds
    while True:
        got = fn()
        if got:
            return got
        if time.time() > end:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(every)


def shot(driver, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        driver.save_screenshot(os.path.join(SHOTS, f"portal-{name}.png"))


def fetch(driver, url, method="GET", body=None):
    """A request from the page (same origin, the page's cookies): (status, final url, text)."""
    return driver.execute_async_script(
        """const [url, method, body, done] = arguments;
        const init = {method: method, credentials: 'same-origin', redirect: 'follow'};
        if (body !== null) {
          init.body = new URLSearchParams(body);
        }
        fetch(url, init).then(r => r.text().then(t => done([r.status, r.url, t])))
                        .catch(e => done([0, '', String(e)]));""",
        url, method, body)


def squeue(user):
    out = subprocess.run(["squeue", "-h", "-u", user, "-o", "%i %T %C %j"], capture_output=True,
                         text=True, timeout=20).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def login(driver, user):
    driver.get(f"{HUB}/hub/login")
    wait(driver, 30, EC.presence_of_element_located((By.ID, "username_input")), "the login form")
    driver.find_element(By.ID, "username_input").send_keys(user)
    driver.find_element(By.ID, "password_input").send_keys(PASSWORDS[user])
    driver.find_element(By.ID, "login_submit").click()
    wait(driver, 30, lambda d: "/hub/login" not in d.current_url, "the hub to accept the login")


class Cases:
    def __init__(self):
        self.alice = None
        self.run_dir = None
        self.notebook_tab = None
        self.portal_tab = None
        self.results = []
        self.failed = set()

    def case(self, name, fn, needs=()):
        t0 = time.time()
        missing = [n for n in needs if n in self.failed]
        if missing:
            self.failed.add(name)
            self.results.append(("SKIP", name, 0.0, f"needs {', '.join(missing)}"))
            log(f"SKIP {name}: needs {', '.join(missing)}")
            return
        try:
            note = fn() or ""
            status = "PASS"
        except Exception as e:  # a failed case is reported, and the next ones still run
            self.failed.add(name)
            status, note = "FAIL", f"{type(e).__name__}: {e}"
            traceback.print_exc()
            if self.alice is not None:
                shot_name = f"fail-{name}"
                try:
                    self.alice.save_screenshot(os.path.join(os.environ.get("HUB_HARNESS_DIR", "/tmp"),
                                                            f"{shot_name}.png"))
                except WebDriverException:
                    pass
        dt = time.time() - t0
        self.results.append((status, name, dt, note))
        log(f"{status} {name} ({dt:.1f} s){': ' + note if note else ''}")

    # --- the hub side ----------------------------------------------------------------------
    def login_alice(self):
        self.alice = browser()
        login(self.alice, ALICE)
        return f"landed on {self.alice.current_url.replace(HUB, '')}"

    def spawn(self):
        d = self.alice
        d.get(f"{HUB}/hub/spawn")
        wait(d, 30, EC.presence_of_element_located((By.ID, "spawn_form")), "the spawn form")
        Select(d.find_element(By.ID, "partition")).select_by_value("debug")
        for field, value in (("cpus", "1"), ("gpus", "0"), ("memory", "1G"), ("runtime", "30")):
            el = d.find_element(By.ID, field)
            el.clear()
            el.send_keys(value)
        shot(d, "hub-spawn")
        d.find_element(By.CSS_SELECTOR, "#spawn_form input[type=submit]").click()
        # The pending page follows the spawn and redirects to the server when it answers.
        wait(d, 180, lambda d: f"/user/{ALICE}/" in d.current_url, "the notebook server")
        jobs = squeue(ALICE)
        running = [j for j in jobs if j[1] == "RUNNING" and j[3] == f"jupyterhub-{ALICE}"]
        assert running, f"no RUNNING notebook job of {ALICE} in squeue: {jobs}"
        assert running[0][2] == "1", f"the notebook job has {running[0][2]} CPUs, not 1"
        return f"job {running[0][0]} RUNNING with 1 CPU"

    def notebook(self):
        d = self.alice
        self.notebook_tab = d.current_window_handle
        before = set(glob.glob(os.path.join(RUNS, ALICE, "notebook-*")))
        d.get(f"{HUB}/user/{ALICE}/notebooks/scaledl-templates/01-train-fashion-mnist.ipynb")
        wait(d, 90, lambda d: d.execute_script(
            "return !!(window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel"
            " && Jupyter.notebook.kernel.is_connected())"), "the notebook's kernel")
        d.execute_script("Jupyter.notebook.execute_all_cells()")

        def started():
            new = set(glob.glob(os.path.join(RUNS, ALICE, "notebook-*"))) - before
            return [r for r in new if os.path.exists(os.path.join(r, "steps.jsonl"))]
        self.run_dir = until(120, started, "the notebook's run to log its first steps")[0]
        return f"training into {self.run_dir}"

    def notebook_done(self):
        d = self.alice
        status = os.path.join(self.run_dir, "status.json")

        def state():
            try:
                with open(status) as f:
                    s = json.load(f).get("state")
            except (OSError, ValueError):
                return None
            return s if s in ("completed", "failed", "stopped") else None
        got = until(300, state, "the notebook's run to end", every=2)
        assert got == "completed", f"the run ended '{got}'"
        d.switch_to.window(self.notebook_tab)
        # The last code cell prints the summary once the kernel is idle.
        wait(d, 120, lambda d: d.execute_script(
            "return Jupyter.notebook.kernel_busy === false &&"
            " document.body.innerText.includes('top-1 ')"), "the summary cell's output")
        errors = d.execute_script(
            "return Jupyter.notebook.get_cells().filter(c => c.output_area &&"
            " c.output_area.outputs.some(o => o.output_type === 'error')).length")
        assert errors == 0, f"{errors} cell(s) raised"
        d.execute_script("Jupyter.notebook.scroll_to_bottom()")
        time.sleep(0.5)
        shot(d, "notebook")
        with open(os.path.join(self.run_dir, "summary.json")) as f:
            s = json.load(f)
        return f"top-1 {s['top1']:.2f}% after {s.get('steps')} steps"

    # --- the portal --------------------------------------------------------------------------
    def portal_runs(self):
        d = self.alice
        d.switch_to.new_window("tab")
        self.portal_tab = d.current_window_handle
        d.get(f"{PORTAL}/")
        wait(d, 30, lambda d: d.current_url.startswith(f"{PORTAL}/"), "the portal (OAuth)")
        assert "/hub/login" not in d.current_url, "the portal sent a logged-in user to the login"
        name = os.path.basename(self.run_dir)
        wait(d, 30, lambda d: any(name in (r.get_attribute("data-run") or "") for r in
                                  d.find_elements(By.CSS_SELECTOR, "table#runs tr[data-run]")),
             f"run {name} in table#runs")
        return f"{name} listed"

    def run_page(self):
        d = self.alice
        name = os.path.basename(self.run_dir)
        row = next(r for r in d.find_elements(By.CSS_SELECTOR, "table#runs tr[data-run]")
                   if name in r.get_attribute("data-run"))
        link = row.find_element(By.CSS_SELECTOR, "a").get_attribute("href")
        d.get(link)
        wait(d, 30, EC.presence_of_element_located((By.ID, "points-loss")), "span#points-loss")

        def points():
            text = d.find_element(By.ID, "points-loss").text.strip()
            return int(text) if text.isdigit() else -1
        first = until(30, lambda: points() > 0 and points(), "loss points on the run page", 0.5)
        second = until(60, lambda: points() > first and points(), "more loss points", 0.5)
        # For the screenshot: let the curve grow a while (no assertion: the run may end first).
        try:
            until(40, lambda: points() >= 12, "a longer curve", 1.0)
        except AssertionError:
            pass
        shot(d, "run")
        return f"points-loss {first} -> {second}"

    def compare(self):
        d = self.alice
        d.get(f"{PORTAL}/")
        boxes = wait(d, 30, lambda d: d.find_elements(
            By.CSS_SELECTOR, "table#runs tr[data-run] input[name=run]"), "the runs' checkboxes")
        shot(d, "runs")  # now with the finished notebook run and the submitted job's run
        for box in boxes[:2]:  # the notebook's run and the submitted job's
            box.click()
        boxes[0].find_element(By.XPATH, "ancestor::form").find_element(By.TAG_NAME, "button").click()
        wait(d, 30, lambda d: "/compare" in d.current_url, "the compare page")
        wait(d, 30, EC.presence_of_element_located((By.CSS_SELECTOR, "table#compare")),
             "table#compare")
        time.sleep(1.5)  # the charts draw
        d.execute_script("const c = document.querySelector('.charts');"
                         " if (c) c.scrollIntoView({block: 'end'});")
        time.sleep(0.5)
        shot(d, "compare")
        return f"{min(len(boxes), 2)} runs compared"

    def submit(self):
        d = self.alice
        d.get(f"{PORTAL}/submit")
        form = wait(d, 30, EC.presence_of_element_located((By.CSS_SELECTOR, "form#submit")),
                    "form#submit")
        values = {
            "kind": "train",
            "args": "--steps 40 --batch 32 --threads 1 --loader-threads 1 --log-every 5 --no-eval",
            "nodes": "1", "ntasks_per_node": "1", "cpus_per_task": "1", "gpus_per_node": "0",
            "mem": "1G", "partition": "debug", "time": "10",
        }
        for field, value in values.items():
            el = form.find_element(By.NAME, field)
            if el.tag_name == "select":  # an <option> may carry its value as its text
                Select(el).select_by_visible_text(value)
            else:
                el.clear()
                el.send_keys(value)
        shot(d, "submit")
        form.submit()
        wait(d, 60, lambda d: "submitted=" in d.current_url, "the jobs page after submit")
        job = re.search(r"submitted=(\d+)", d.current_url).group(1)
        wait(d, 10, EC.presence_of_element_located((By.ID, "submitted")), "#submitted")
        t0 = time.time()

        def state():
            d.get(f"{PORTAL}/jobs")
            cells = d.find_elements(By.CSS_SELECTOR, f'table#jobs tr[data-job="{job}"] td.state')
            s = cells[0].text.strip() if cells else ""
            if s in ("FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"):
                raise AssertionError(f"job {job} ended {s}")
            return s == "COMPLETED" and s
        until(240, state, f"job {job} to reach COMPLETED on the jobs page", every=3)
        shot(d, "jobs")
        return f"job {job} COMPLETED {time.time() - t0:.0f} s after submit"

    def bob_isolated(self):
        bob = browser()
        try:
            login(bob, BOB)
            bob.get(f"{PORTAL}/")
            wait(bob, 30, lambda d: d.current_url.startswith(f"{PORTAL}/"), "the portal for bob")
            wait(bob, 30, EC.presence_of_element_located((By.CSS_SELECTOR, "table#runs")),
                 "table#runs for bob")
            name = os.path.basename(self.run_dir)
            rows = [r.get_attribute("data-run") for r in
                    bob.find_elements(By.CSS_SELECTOR, "table#runs tr[data-run]")]
            assert not any(name in r for r in rows), f"bob sees alice's run: {rows}"
            assert name not in bob.page_source, "alice's run name is on bob's runs page"
            status, _, text = fetch(bob, f"{PORTAL}/api/runs")
            assert status == 200, f"GET api/runs for bob: HTTP {status}"
            json.loads(text)
            assert name not in text, "alice's run is in bob's api/runs"
            # and alice's own listing has it, so the check above means something
            status, _, text = fetch(self.alice, f"{PORTAL}/api/runs")
            assert status == 200 and name in text, f"alice's api/runs lacks her run (HTTP {status})"
            return f"bob sees {len(rows)} runs, none of alice's"
        finally:
            quit_quietly(bob)

    def no_session(self):
        fresh = browser()
        try:
            fresh.get(f"{PORTAL}/")
            wait(fresh, 30, lambda d: "/hub/login" in d.current_url, "the hub's login")
        finally:
            quit_quietly(fresh)
        # and without a browser: the API answers no data
        try:
            with urllib.request.urlopen(f"{PORTAL}/api/runs", timeout=20) as r:
                final, body = r.geturl(), r.read().decode(errors="replace")
            assert "/hub/login" in final, f"api/runs without a session answered at {final}"
            assert os.path.basename(self.run_dir or "notebook-") not in body
            how = "api/runs redirected to the login"
        except urllib.error.HTTPError as e:
            assert e.code in (401, 403), f"api/runs without a session: HTTP {e.code}"
            how = f"api/runs HTTP {e.code}"
        return f"browser sent to /hub/login; {how}"

    def csrf(self):
        d = self.alice
        d.get(f"{PORTAL}/submit")
        form = wait(d, 30, EC.presence_of_element_located((By.CSS_SELECTOR, "form#submit")),
                    "form#submit")
        action = form.get_attribute("action") or f"{PORTAL}/submit"
        body = {"kind": "train", "args": "--steps 1", "nodes": "1", "ntasks_per_node": "1",
                "cpus_per_task": "1", "gpus_per_node": "0", "mem": "", "partition": "debug",
                "time": "5"}
        jobs_before = squeue(ALICE)
        status, _, _ = fetch(d, action, "POST", body)
        assert status == 403, f"POST {action} without the CSRF token: HTTP {status}, not 403"
        assert squeue(ALICE) == jobs_before or len(squeue(ALICE)) <= len(jobs_before), \
            "a job was submitted without the CSRF token"
        return f"POST without token: {status}"

    def traversal(self):
        d = self.alice
        seen = []
        for path in ("run/..%2F..%2Fetc", "run/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
                     "run/%2E%2E%2F%2E%2E%2Fetc", "api/runs/..%2F..%2Fetc%2Fpasswd",
                     "run/..%252F..%252Fetc"):
            status, _, text = fetch(d, f"{PORTAL}/{path}")
            assert 400 <= status < 500, f"{path}: HTTP {status}, not 4xx"
            assert "root:x:0:0" not in text and "/bin/bash" not in text, f"{path}: file content"
            seen.append(str(status))
        return "HTTP " + ",".join(seen)

    def run(self):
        portal = os.environ.get("BROWSER_TEST_NO_PORTAL") != "1"
        try:
            self.case("hub_login", self.login_alice)
            self.case("spawn_1cpu", self.spawn, needs=["hub_login"])
            self.case("notebook_runs", self.notebook, needs=["spawn_1cpu"])
            if portal:
                self.case("portal_runs", self.portal_runs, needs=["notebook_runs"])
                self.case("run_page_live", self.run_page, needs=["portal_runs"])
            self.case("notebook_done", self.notebook_done, needs=["notebook_runs"])
            if portal:
                self.case("submit_job", self.submit, needs=["portal_runs"])
                self.case("compare_page", self.compare, needs=["portal_runs"])
                self.case("bob_isolated", self.bob_isolated, needs=["portal_runs"])
                self.case("no_session", self.no_session)
                self.case("csrf_refused", self.csrf, needs=["portal_runs"])
                self.case("traversal_refused", self.traversal, needs=["portal_runs"])
        finally:
            if self.alice is not None:
                quit_quietly(self.alice)
        passed = sum(1 for r in self.results if r[0] == "PASS")
        log(f"browser_test: {passed}/{len(self.results)} passed")
        for status, name, dt, note in self.results:
            log(f"  {status:4} {name:18} {dt:6.1f} s  {note}")
        return 0 if passed == len(self.results) else 1


if __name__ == "__main__":
    # SIGTERM (the runner's clean-up) ends the test through its finally blocks: browsers quit.
    signal.signal(signal.SIGTERM, on_sigterm)
    sys.exit(Cases().run())
