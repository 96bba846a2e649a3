# JupyterHub configuration for scaledl on a Slurm cluster: users log in with their cluster
# (PAM) credentials, each notebook server is a Slurm job started by batchspawner's SlurmSpawner
# with the resources chosen on the spawn form, and the scaledl portal (`scaledl portal`: runs,
# live curves, compare, submit) runs as a hub-managed service at /services/scaledl/.
#
# Run it from the venv scripts/hub_venv makes (Debian's jupyterhub + batchspawner):
#     SCALEDL_HUB_DIR=/var/lib/scaledl-hub SCALEDL_BIN=/opt/scaledl/bin/scaledl \
#     SCALEDL_RUNS=/shared/runs .venv-hub/bin/python -m jupyterhub -f deploy/jupyterhub/jupyterhub_config.py
# The same file serves a real cluster (docs/jupyterhub.md) and the tests (tests/hub/); every
# setting that differs between them comes from the environment:
#   SCALEDL_HUB_DIR         state: cookie secret, sqlite database, proxy token, pid files (required)
#   SCALEDL_HUB_PORT        public port of the proxy, bound to 127.0.0.1 (default 8000; put a TLS
#                           reverse proxy in front of it on a real cluster)
#   SCALEDL_HUB_API_IP      address the hub's API listens on; compute nodes must reach it
#                           (default 127.0.0.1: single-node clusters and the tests)
#   SCALEDL_HUB_API_PORT    the hub's API port (default 8081)
#   SCALEDL_HUB_PROXY_API_PORT  configurable-http-proxy's API port on 127.0.0.1 (default 8001)
#   SCALEDL_HUB_ADMINS      comma-separated admin user names (default none)
#   SCALEDL_HUB_ALLOWED_GROUPS  comma-separated Unix groups allowed to log in (default: any
#                           account PAM accepts)
#   SCALEDL_HUB_PARTITIONS  comma-separated partitions offered on the form (default: sinfo's)
#   SCALEDL_HUB_MAX_CPUS, SCALEDL_HUB_MAX_GPUS  upper bounds on the form (default 64, 8)
#   SCALEDL_HUB_VENV        the venv with batchspawner-singleuser, on storage the compute nodes
#                           see (default: the venv this hub runs from)
#   SCALEDL_HUB_TEMPLATES   notebook templates copied to ~/scaledl-templates (default: templates/
#                           beside this file)
#   SCALEDL_HUB_LOG_LEVEL   DEBUG, INFO (default), WARNING
#   SCALEDL_BIN             the scaledl binary (portal service; notebooks get it as $SCALEDL_BIN)
#   SCALEDL_RUNS            the shared runs folder (portal --runs; notebooks get $SCALEDL_RUNS)
#   SCALEDL_PORTAL_PORT     the portal's port on 127.0.0.1 (default 8090)
#   SLURM_CONF              passed through to sbatch/squeue, the jobs and the portal when set
#   SCALEDL_DEPLOY_DIR      passed to the portal when set: where its Slurm job templates are
#                           (default: found beside the scaledl binary)
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import batchspawner  # noqa: F401  (registers the hub's /api/batchspawner handler)
from jupyterhub.spawner import set_user_setuid

c = get_config()  # noqa: F821  (provided by JupyterHub's config loader)

HERE = Path(__file__).resolve().parent


def env_list(name):
    """A comma-separated environment variable as a list of non-empty, stripped items."""
    return [s.strip() for s in os.environ.get(name, "").split(",") if s.strip()]


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value else default


# --- state -----------------------------------------------------------------------------------
if not os.environ.get("SCALEDL_HUB_DIR"):
    sys.exit("jupyterhub_config: set SCALEDL_HUB_DIR (the folder for the hub's state files)")
HUB_DIR = Path(os.environ["SCALEDL_HUB_DIR"]).resolve()
HUB_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
c.JupyterHub.cookie_secret_file = str(HUB_DIR / "jupyterhub_cookie_secret")
c.JupyterHub.db_url = f"sqlite:///{HUB_DIR / 'jupyterhub.sqlite'}"
c.JupyterHub.pid_file = str(HUB_DIR / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(HUB_DIR / "jupyterhub-proxy.pid")


def proxy_token():
    """The proxy's API token, kept in HUB_DIR so a restarted hub still speaks to a running proxy."""
    path = HUB_DIR / "proxy_token"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


c.ConfigurableHTTPProxy.auth_token = proxy_token()
# Debian's configurable-http-proxy takes its modules from /usr/share/nodejs, where Debian's node
# looks; a node from elsewhere (NodeSource's package) does not, unless told. The proxy inherits
# the hub's environment.
if Path("/usr/share/nodejs").is_dir() and "/usr/share/nodejs" not in os.environ.get("NODE_PATH", ""):
    os.environ["NODE_PATH"] = ":".join(p for p in (os.environ.get("NODE_PATH"), "/usr/share/nodejs") if p)
c.JupyterHub.log_level = os.environ.get("SCALEDL_HUB_LOG_LEVEL", "INFO")

# --- network ---------------------------------------------------------------------------------
# The public proxy listens on loopback only: a reverse proxy with TLS (nginx, Apache) fronts it.
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = env_int("SCALEDL_HUB_PORT", 8000)
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env_int('SCALEDL_HUB_PROXY_API_PORT', 8001)}"
# The single-user servers (in Slurm jobs) call the hub's API here.
c.JupyterHub.hub_ip = os.environ.get("SCALEDL_HUB_API_IP", "127.0.0.1")
c.JupyterHub.hub_port = env_int("SCALEDL_HUB_API_PORT", 8081)

# --- login: the cluster's own accounts through PAM --------------------------------------------
c.JupyterHub.authenticator_class = "jupyterhub.auth.PAMAuthenticator"
# No PAM session (pam_systemd, pam_mkhomedir ...) for the hub's own process: the Slurm job is the
# user's session.
c.PAMAuthenticator.open_sessions = False
c.Authenticator.admin_users = set(env_list("SCALEDL_HUB_ADMINS"))
if env_list("SCALEDL_HUB_ALLOWED_GROUPS"):
    c.PAMAuthenticator.allowed_groups = set(env_list("SCALEDL_HUB_ALLOWED_GROUPS"))

# --- notebooks as Slurm jobs -----------------------------------------------------------------
c.JupyterHub.spawner_class = "batchspawner.SlurmSpawner"
SCALEDL_BIN = os.environ.get("SCALEDL_BIN") or shutil.which("scaledl") or "/usr/local/bin/scaledl"
SCALEDL_RUNS = os.environ.get("SCALEDL_RUNS", "/shared/scaledl-runs")
VENV = Path(os.environ.get("SCALEDL_HUB_VENV") or sys.prefix)

# sbatch, squeue and scancel run as the user. The hub runs as root: runuser (util-linux, root
# only) switches user without sudo's package, sudoers rules or a password, and keeps the
# environment (SLURM_CONF, PATH, the JUPYTERHUB_* variables sbatch --export hands to the job)
# apart from HOME, SHELL, USER and LOGNAME, which it sets to the user's. A hub that does not run
# as root needs sudo instead, with a sudoers rule letting its account run exactly
# sbatch/squeue/scancel as the notebook users, keeping the environment (-E).
if os.geteuid() == 0:
    c.SlurmSpawner.exec_prefix = f"{shutil.which('runuser', path='/usr/sbin:/sbin:/usr/bin') or 'runuser'} -u {{username}} --"
else:
    c.SlurmSpawner.exec_prefix = "sudo -E -u {username}"

# The single-user server: Debian's notebook 6 (classic UI) behind jupyterhub-singleuser, wrapped
# in batchspawner-singleuser, which picks a free port on the node and reports it to the hub.
c.Spawner.cmd = ["/usr/bin/jupyterhub-singleuser"]
c.SlurmSpawner.batchspawner_singleuser_cmd = str(VENV / "bin" / "batchspawner-singleuser")
c.Spawner.default_url = "/tree"
c.Spawner.environment = {
    "JUPYTERHUB_SINGLEUSER_APP": "notebook.notebookapp.NotebookApp",
    "SCALEDL_BIN": SCALEDL_BIN,
    "SCALEDL_RUNS": SCALEDL_RUNS,
}
# Passed from the hub's environment to sbatch, and by sbatch --export into the job.
c.Spawner.env_keep = ["PATH", "LANG", "LC_ALL", "SLURM_CONF"]
c.Spawner.start_timeout = 180  # queue wait + server start
c.Spawner.http_timeout = 90
c.SlurmSpawner.startup_poll_interval = 1.0

# The job script; {{cmd}} is batchspawner-singleuser jupyterhub-singleuser ...; the req_* values
# (and the validated form options, which batchspawner adds under the same names) fill it in.
c.SlurmSpawner.batch_script = """#!/bin/bash
#SBATCH --job-name=jupyterhub-{{username}}
#SBATCH --output={{homedir}}/jupyterhub-slurm-%j.log
#SBATCH --chdir={{homedir}}
#SBATCH --export={{keepvars}}
#SBATCH --ntasks=1
{% if partition %}#SBATCH --partition={{partition}}
{% endif %}{% if nprocs %}#SBATCH --cpus-per-task={{nprocs}}
{% endif %}{% if ngpus and ngpus != '0' %}#SBATCH --gres=gpu:{{ngpus}}
{% endif %}{% if memory %}#SBATCH --mem={{memory}}
{% endif %}{% if runtime %}#SBATCH --time={{runtime}}
{% endif %}{% if account %}#SBATCH --account={{account}}
{% endif %}{% if options %}#SBATCH {{options}}
{% endif %}
set -euo pipefail
echo "jupyterhub: notebook server for {{username}} in job $SLURM_JOB_ID on $(hostname)"
{{prologue}}
{{cmd}}
{{epilogue}}
"""

# --- the spawn form: partition, CPUs, GPUs (gres), memory, time ---------------------------------
MAX_CPUS = env_int("SCALEDL_HUB_MAX_CPUS", 64)
MAX_GPUS = env_int("SCALEDL_HUB_MAX_GPUS", 8)
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MEM_RE = re.compile(r"^[1-9][0-9]{0,6}[KMGT]?$")
TIME_RE = re.compile(r"^([0-9]{1,3}-)?[0-9]{1,2}(:[0-9]{2}){0,2}$")


def partitions():
    """The partitions users may pick: SCALEDL_HUB_PARTITIONS, else what sinfo lists (default first)."""
    names = env_list("SCALEDL_HUB_PARTITIONS")
    if not names:
        try:
            out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.split()
        except (OSError, subprocess.SubprocessError):
            out = []
        default = [p.rstrip("*") for p in out if p.endswith("*")]
        names = default + [p for p in out if not p.endswith("*")]
    return [n for n in names if NAME_RE.fullmatch(n)]


def options_form(spawner):
    parts = partitions()
    if parts:
        choices = "".join(f'<option value="{p}">{p}</option>' for p in parts)
        partition = f'<select class="form-control" id="partition" name="partition">{choices}</select>'
    else:
        partition = '<input class="form-control" id="partition" name="partition" placeholder="cluster default">'
    return f"""
<div class="form-group"><label for="partition">Partition</label>{partition}</div>
<div class="form-group"><label for="cpus">CPUs</label>
  <input class="form-control" type="number" id="cpus" name="cpus" value="2" min="1" max="{MAX_CPUS}"></div>
<div class="form-group"><label for="gpus">GPUs (gres gpu)</label>
  <input class="form-control" type="number" id="gpus" name="gpus" value="0" min="0" max="{MAX_GPUS}"></div>
<div class="form-group"><label for="memory">Memory (e.g. 4G; empty: the partition's default)</label>
  <input class="form-control" id="memory" name="memory" value="4G"></div>
<div class="form-group"><label for="runtime">Time limit (minutes or [D-]HH:MM:SS)</label>
  <input class="form-control" id="runtime" name="runtime" value="08:00:00"></div>
"""


OPTION_KEYS = ("partition", "nprocs", "ngpus", "memory", "runtime")


def check_options(opts):
    """The user options, checked: they go into the job script (batchspawner adds them to the
    template's values under these names), whether they come from the form or from the REST API
    (POST /hub/api/users/NAME/server with a JSON body, which skips the form)."""
    unknown = sorted(set(opts) - set(OPTION_KEYS))
    if unknown:
        raise ValueError(f"unknown server options: {', '.join(unknown)}")
    out = {k: str(opts.get(k, "")).strip() for k in OPTION_KEYS}
    allowed = partitions()
    if out["partition"] and (not NAME_RE.fullmatch(out["partition"]) or
                             (allowed and out["partition"] not in allowed)):
        raise ValueError(f"Unknown partition '{out['partition']}'; choose one of {', '.join(allowed)}")
    for key, name, low, high in (("nprocs", "CPUs", 1, MAX_CPUS), ("ngpus", "GPUs", 0, MAX_GPUS)):
        text = out[key]
        if text and (not text.isdigit() or not low <= int(text) <= high):
            raise ValueError(f"{name}: a whole number from {low} to {high}, not '{text}'")
        out[key] = str(int(text)) if text else ""
    if out["memory"] and not MEM_RE.fullmatch(out["memory"]):
        raise ValueError(f"memory: a size such as 4G or 500M, not '{out['memory']}'")
    if out["runtime"] and not TIME_RE.fullmatch(out["runtime"]):
        raise ValueError(f"time limit: minutes or [D-]HH:MM:SS, not '{out['runtime']}'")
    return out


def options_from_form(formdata):
    """The spawn form's fields as user options (checked)."""
    def field(name):
        return (formdata.get(name) or [""])[0]

    return check_options({"partition": field("partition"), "nprocs": field("cpus") or "1",
                          "ngpus": field("gpus") or "0", "memory": field("memory"),
                          "runtime": field("runtime")})


c.SlurmSpawner.options_form = options_form
c.SlurmSpawner.options_from_form = options_from_form

# --- before each spawn: options to req_* traits, templates into the user's home ----------------
TEMPLATES = Path(os.environ.get("SCALEDL_HUB_TEMPLATES") or HERE / "templates")
# Runs as the user (never as root in a user-writable place): copies each template that is
# missing from ~/scaledl-templates, leaving the user's edited copies alone.
COPY_TEMPLATES = r"""
import os, shutil, sys
src, dest = sys.argv[1], os.path.join(os.path.expanduser("~"), "scaledl-templates")
os.makedirs(dest, exist_ok=True)
for name in sorted(os.listdir(src)):
    if name.endswith(".ipynb") and not os.path.lexists(os.path.join(dest, name)):
        shutil.copyfile(os.path.join(src, name), os.path.join(dest, name))
"""


def pre_spawn_hook(spawner):
    opts = check_options(spawner.user_options or {})
    spawner.user_options = opts
    spawner.req_partition = opts.get("partition", "")
    spawner.req_nprocs = opts.get("nprocs", "")
    spawner.req_ngpus = opts.get("ngpus", "")
    spawner.req_memory = opts.get("memory", "")
    spawner.req_runtime = opts.get("runtime", "")
    name = spawner.user.name
    home = pwd.getpwnam(name).pw_dir
    if TEMPLATES.is_dir() and os.path.isdir(home):
        env = {"HOME": home, "PATH": "/usr/bin:/bin", "USER": name}
        done = subprocess.run([sys.executable, "-I", "-c", COPY_TEMPLATES, str(TEMPLATES)],
                              env=env, cwd=home, preexec_fn=set_user_setuid(name),
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            spawner.log.warning("templates not copied for %s: %s", name, done.stderr.strip()[-300:])


c.Spawner.pre_spawn_hook = pre_spawn_hook

# --- the scaledl portal, a managed service at /services/scaledl/ ------------------------------
PORTAL_PORT = env_int("SCALEDL_PORTAL_PORT", 8090)
EXTRA_PATH = ["/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"]
# The portal runs sbatch/squeue/scancel (as the user, through runuser): Slurm's binaries and the
# cluster's slurm.conf must be found.
service_env = {
    "PATH": ":".join(p for p in dict.fromkeys(os.environ.get("PATH", "").split(":") + EXTRA_PATH) if p),
}
for name in ("SLURM_CONF", "SCALEDL_DEPLOY_DIR"):  # Slurm's config; the portal's job templates
    if os.environ.get(name):
        service_env[name] = os.environ[name]
c.JupyterHub.services = [
    {
        "name": "scaledl",
        "url": f"http://127.0.0.1:{PORTAL_PORT}",
        "command": [SCALEDL_BIN, "portal", "--port", str(PORTAL_PORT), "--runs", SCALEDL_RUNS],
        "oauth_no_confirm": True,
        "environment": service_env,
    }
]
c.JupyterHub.load_roles = [
    # The portal reads who is logged in and the users it shows runs of.
    {"name": "scaledl-portal", "scopes": ["read:users", "list:users"], "services": ["scaledl"]},
    # JupyterHub 3.0's user role is only 'self', which does not include services: let every
    # user open the portal (OAuth login into the service).
    {"name": "user", "scopes": ["self", "access:services!service=scaledl"]},
]
