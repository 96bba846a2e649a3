// sbatch scripts from templates, submission (as ourselves or, for root, as another user), and
// job lists merged from squeue (jobs slurmctld holds) and sacct (jobs it has let go).
#include "cluster/slurm.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/subprocess.h"

namespace scaledl::cluster {
namespace fs = std::filesystem;
namespace {

constexpr double kSlurmTimeout = 30;  // seconds for one sbatch/squeue/sacct call

[[noreturn]] void bad(const std::string& what) {
  throw Error("submit", what);
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789_./:=,+-@%") == std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// `s` with control characters written as \xNN, for an error line.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 32 && c != 127) {
      out += static_cast<char>(c);
      continue;
    }
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", c);
    out += hex;
  }
  return out;
}

// A value that goes on an #SBATCH line: sbatch reads those lines itself, so only plain
// characters, and never a newline (that would add lines to the script).
void check_plain(const std::string& value, const char* flag) {
  for (unsigned char c : value)
    if (!(std::isalnum(c) ||
          std::string_view("_.:,+-=/@").find(static_cast<char>(c)) != std::string_view::npos))
      bad(std::string(flag) + " '" + printable(value) + "' holds '" +
          printable(std::string(1, static_cast<char>(c))) +
          "': use letters, digits and _ . : , + - = / @ only");
}

std::string user_name(uid_t uid) {
  if (const passwd* pw = ::getpwuid(uid)) return pw->pw_name;
  return std::to_string(uid);
}

std::string self_exe() {
  std::error_code ec;
  const auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

void replace_all(std::string& s, const std::string& key, const std::string& value) {
  for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + value.size()))
    s.replace(at, key.size(), value);
}

// Splits a line of `sep`-separated fields; the last field takes the rest of the line.
std::vector<std::string> split_fields(const std::string& line, char sep, size_t n) {
  std::vector<std::string> f;
  size_t at = 0;
  while (f.size() + 1 < n) {
    const size_t next = line.find(sep, at);
    if (next == std::string::npos) break;
    f.push_back(line.substr(at, next - at));
    at = next + 1;
  }
  f.push_back(line.substr(at));
  return f;
}

std::string strip_uid(const std::string& user) {  // sacct --completion: "alice(1001)"
  const auto p = user.find('(');
  return p == std::string::npos ? user : user.substr(0, p);
}

// Slurm's filename patterns in an --output path that we can fill in from the job list.
std::string expand_output(std::string path, const JobInfo& j) {
  const std::string id = j.id.substr(0, j.id.find_first_of("_+"));
  std::string out;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%' || i + 1 == path.size()) {
      out += path[i];
      continue;
    }
    const char c = path[++i];
    if (c == 'j' || c == 'A')
      out += id;
    else if (c == 'u')
      out += j.user;
    else if (c == 'x')
      out += j.name;
    else if (c == '%')
      out += '%';
    else
      out += std::string("%") + c;
  }
  return out;
}

long leading_number(const std::string& id) {
  long v = 0;
  for (char c : id) {
    if (!std::isdigit(static_cast<unsigned char>(c))) break;
    v = v * 10 + (c - '0');
  }
  return v;
}

// RUN_DIR/job.json of a folder when it records `id`: then the folder is that job's run folder.
bool run_dir_records(const std::string& dir, const std::string& id) {
  std::ifstream f(dir + "/job.json");
  if (!f) return false;
  const auto j = nlohmann::json::parse(f, nullptr, false);
  if (!j.is_object() || !j.contains("job_ids") || !j["job_ids"].is_array()) return false;
  for (const auto& v : j["job_ids"])
    if (v.is_string() && v.get<std::string>() == id) return true;
  return false;
}

void link_run_dir(JobInfo& j, const std::string& work_dir) {
  const std::string id = j.id.substr(0, j.id.find_first_of("_+"));
  if (!work_dir.empty() && run_dir_records(work_dir, id)) {
    j.run_dir = work_dir;
    if (j.log.empty()) j.log = work_dir + "/slurm-" + id + ".out";
  }
}

bool accounting_storage() {
  const ProcessResult r = run_process({"scontrol", "show", "config"}, kSlurmTimeout);
  if (r.exit_code != 0) return false;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("AccountingStorageType", 0) == 0) return line.find("none") == std::string::npos;
  return false;
}

const char kSep = '\x1f';  // unit separator: no job name or path holds one

std::vector<JobInfo> from_squeue(const std::string& user) {
  const std::string s(1, kSep);
  std::vector<std::string> argv = {"squeue", "--noheader", "--states=all",
                                   "--Format=JobID:" + s + ",UserName:" + s + ",State:" + s +
                                       ",Partition:" + s + ",NumNodes:" + s + ",TimeUsed:" + s +
                                       ",TimeLimit:" + s + ",SubmitTime:" + s + ",Reason:" + s +
                                       ",WorkDir:" + s + ",STDOUT:" + s + ",Name:"};
  if (!user.empty()) argv.push_back("--user=" + user);
  const ProcessResult r = run_process(argv, kSlurmTimeout);
  if (r.exit_code != 0)
    throw Error("jobs", "squeue failed: " + one_line(r) + "; is Slurm up (scontrol ping)?");
  std::vector<JobInfo> jobs;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    const auto f = split_fields(line, kSep, 12);
    if (f.size() < 12) continue;
    JobInfo j;
    j.id = f[0], j.user = f[1], j.state = f[2], j.partition = f[3], j.nodes = f[4];
    j.elapsed = f[5], j.time_limit = f[6], j.submit_time = f[7], j.reason = f[8];
    j.name = f[11];
    while (!j.name.empty() && j.name.back() == ' ') j.name.pop_back();
    if (j.reason == "None") j.reason.clear();
    j.log = f[10].empty() ? "" : expand_output(f[10], j);
    link_run_dir(j, f[9]);
    jobs.push_back(std::move(j));
  }
  return jobs;
}

std::vector<JobInfo> from_sacct(const std::string& user) {
  std::vector<std::string> argv = {"sacct",
                                   "--noheader",
                                   "--parsable2",
                                   "--allocations",
                                   "--starttime=now-30days",
                                   "--format=JobID,User,State,Partition,NNodes,Elapsed,Timelimit,"
                                   "Submit,ExitCode,WorkDir,JobName"};
  if (!accounting_storage()) argv.push_back("--completion");
  argv.push_back(user.empty() ? "--allusers" : "--user=" + user);
  const ProcessResult r = run_process(argv, kSlurmTimeout);
  if (r.exit_code != 0) return {};  // no accounting at all: squeue's view is all there is
  std::vector<JobInfo> jobs;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    const auto f = split_fields(line, '|', 11);
    if (f.size() < 11 || f[0].empty()) continue;
    JobInfo j;
    j.id = f[0], j.user = strip_uid(f[1]), j.state = f[2], j.partition = f[3], j.nodes = f[4];
    j.elapsed = f[5], j.time_limit = f[6], j.submit_time = f[7], j.exit_code = f[8];
    j.name = f[10];
    j.state = j.state.substr(0, j.state.find(' '));  // "CANCELLED by 1001"
    link_run_dir(j, f[9]);
    if (!user.empty() && j.user != user) continue;
    jobs.push_back(std::move(j));
  }
  return jobs;
}

// Jobs are submitted for people, never for root or system accounts (a uid outside UID_MIN to
// UID_MAX of /etc/login.defs, 1000 to 60000 by default): a hub user called "root", "slurm" or
// "nobody" gets nothing.
void check_account(const std::string& user) {
  const passwd* pw = ::getpwnam(user.c_str());
  if (!pw) bad("no user '" + user + "' on this machine");
  uid_t uid_min = 1000, uid_max = 60000;
  std::ifstream defs("/etc/login.defs");
  for (std::string line; std::getline(defs, line);) {
    std::istringstream in(line);
    std::string key;
    long v = 0;
    if (!(in >> key >> v) || v <= 0) continue;
    if (key == "UID_MIN") uid_min = static_cast<uid_t>(v);
    if (key == "UID_MAX") uid_max = static_cast<uid_t>(v);
  }
  if (pw->pw_uid == 0 || pw->pw_uid < uid_min || pw->pw_uid > uid_max)
    bad("'" + user + "' is a system account (uid " + std::to_string(pw->pw_uid) +
        "); jobs are submitted only for people's accounts");
}

Submitted submit_as_user(const JobSpec& spec) {
  if (::geteuid() != 0)
    bad("only root may submit as another user ('" + spec.as_user + "'); this is " +
        user_name(::geteuid()));
  const passwd* pw = ::getpwnam(spec.as_user.c_str());
  // A clean environment: nothing of this process (the hub's service token, for one) reaches
  // the user's sbatch or job.
  std::vector<std::string> argv = {"runuser",
                                   "-u",
                                   spec.as_user,
                                   "--",
                                   "env",
                                   "-i",
                                   "HOME=" + std::string(pw->pw_dir),
                                   "USER=" + spec.as_user,
                                   "LOGNAME=" + spec.as_user,
                                   "LANG=C.UTF-8"};
  for (const char* name : {"PATH", "SLURM_CONF", "SCALEDL_DEPLOY_DIR"})
    if (const char* v = std::getenv(name); v && *v) argv.push_back(std::string(name) + "=" + v);
  argv.insert(argv.end(), {self_exe(), "submit", job_kind_name(spec.kind), "--json", "--nodes",
                           std::to_string(spec.nodes), "--ntasks-per-node",
                           std::to_string(spec.ntasks_per_node), "--gpus-per-node",
                           std::to_string(spec.gpus_per_node), "--cpus-per-task",
                           std::to_string(spec.cpus_per_task), "--srun-mpi", spec.srun_mpi,
                           "--binary", spec.binary, "--run-dir", spec.run_dir});
  for (const auto& [flag, value] : {std::pair{"--mem", spec.mem},
                                    {"--partition", spec.partition},
                                    {"--time", spec.time},
                                    {"--job-name", spec.job_name}})
    if (!value.empty()) argv.insert(argv.end(), {flag, value});
  argv.push_back("--");
  argv.insert(argv.end(), spec.args.begin(), spec.args.end());
  const ProcessResult r = run_process(argv, kSlurmTimeout * 2);
  if (r.exit_code != 0) {
    std::string line = one_line(r);
    for (const char* prefix : {"scaledl: error: ", "[submit] "})
      if (line.rfind(prefix, 0) == 0) line = line.substr(std::strlen(prefix));
    bad(line + " (submitting as " + spec.as_user + ")");
  }
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (!j.is_object() || !j.contains("job_id"))
    bad("scaledl submit as " + spec.as_user + " printed no job: '" + one_line(r) + "'");
  return {j["job_id"].get<std::string>(), j["run_dir"].get<std::string>(),
          j["script"].get<std::string>(), j["log"].get<std::string>()};
}

}  // namespace

std::string current_user() {
  return user_name(::geteuid());
}

JobKind parse_job_kind(const std::string& s) {
  if (s == "train") return JobKind::train;
  if (s == "infer") return JobKind::infer;
  if (s == "loadgen") return JobKind::loadgen;
  bad("unknown job kind '" + s + "': use train, infer or loadgen");
}

const char* job_kind_name(JobKind k) {
  switch (k) {
    case JobKind::train:
      return "train";
    case JobKind::infer:
      return "infer";
    case JobKind::loadgen:
      return "loadgen";
  }
  return "?";
}

std::string find_template(JobKind kind) {
  const std::string name = std::string(job_kind_name(kind)) + ".sbatch.in";
  std::vector<fs::path> dirs;
  if (const char* d = std::getenv("SCALEDL_DEPLOY_DIR"); d && *d)
    dirs.push_back(fs::path(d) / "slurm");
  const fs::path exe_dir = fs::path(self_exe()).parent_path();
  dirs.push_back(exe_dir / "../share/scaledl/deploy/slurm");  // an install or a bundle
  dirs.push_back(exe_dir / "../deploy/slurm");                // build/scaledl in the repository
  dirs.push_back(exe_dir / "../../deploy/slurm");
  for (const auto& d : dirs) {
    std::error_code ec;
    if (fs::is_regular_file(d / name, ec)) return fs::weakly_canonical(d / name, ec).string();
  }
  bad("no job template " + name + " beside " + exe_dir.string() +
      " (looked in ../share/scaledl/deploy/slurm and ../deploy/slurm); set SCALEDL_DEPLOY_DIR to "
      "the deploy/ folder of scaledl's sources");
}

std::string render_sbatch(const JobSpec& spec, const std::string& text) {
  // The template's placeholders are checked before anything is filled in (a flag may hold "{{").
  for (size_t at = text.find("{{"); at != std::string::npos; at = text.find("{{", at + 2)) {
    const size_t end = text.find("}}", at);
    const std::string name = text.substr(at, end == std::string::npos ? 12 : end + 2 - at);
    if (name != "{{SBATCH_OPTIONS}}" && name != "{{SCALEDL}}" && name != "{{RUN_DIR}}" &&
        name != "{{SRUN_MPI}}" && name != "{{ARGS}}")
      bad("the job template holds a placeholder scaledl does not know: '" + name + "'");
  }
  std::string opts;
  auto line = [&](const std::string& flag, const std::string& value) {
    check_plain(value, flag.c_str());
    opts += "#SBATCH " + flag + "=" + value + "\n";
  };
  line("--job-name",
       spec.job_name.empty() ? std::string("scaledl-") + job_kind_name(spec.kind) : spec.job_name);
  line("--nodes", std::to_string(spec.nodes));
  line("--ntasks-per-node", std::to_string(spec.ntasks_per_node));
  if (spec.cpus_per_task > 0) line("--cpus-per-task", std::to_string(spec.cpus_per_task));
  if (spec.gpus_per_node > 0) line("--gpus-per-node", std::to_string(spec.gpus_per_node));
  if (!spec.mem.empty()) line("--mem", spec.mem);
  if (!spec.partition.empty()) line("--partition", spec.partition);
  if (!spec.time.empty()) line("--time", spec.time);
  line("--chdir", spec.run_dir);
  opts += "#SBATCH --output=" + spec.run_dir + "/slurm-%j.out\n";  // checked as --chdir
  opts.pop_back();
  std::string args;
  for (const auto& a : spec.args) {
    if (a.find_first_of("\n\r") != std::string::npos)
      bad("a flag holds a line break: '" + printable(a) + "'");
    if (!args.empty()) args += ' ';
    args += shell_quote(a);
  }
  std::string s = text;
  replace_all(s, "{{SBATCH_OPTIONS}}", opts);
  replace_all(s, "{{SCALEDL}}", shell_quote(spec.binary));
  replace_all(s, "{{RUN_DIR}}", shell_quote(spec.run_dir));
  replace_all(s, "{{SRUN_MPI}}", shell_quote(spec.srun_mpi));
  replace_all(s, "{{ARGS}}", args);
  return s;
}

Submitted submit(JobSpec spec) {
  if (spec.nodes < 1) bad("--nodes " + std::to_string(spec.nodes) + ": give 1 or more");
  if (spec.ntasks_per_node < 1) bad("--ntasks-per-node must be 1 or more");
  if (spec.gpus_per_node > 0 && spec.ntasks_per_node != spec.gpus_per_node)
    bad("--ntasks-per-node " + std::to_string(spec.ntasks_per_node) + " with --gpus-per-node " +
        std::to_string(spec.gpus_per_node) +
        ": scaledl runs one rank per GPU; give the same number");
  if (spec.kind != JobKind::train && spec.nodes * spec.ntasks_per_node > 1)
    bad(std::string(job_kind_name(spec.kind)) +
        " runs as one process: give --nodes 1 --ntasks-per-node 1");
  if (spec.run_dir.empty()) bad("no run folder: pass --run-dir");
  spec.run_dir = fs::absolute(spec.run_dir).lexically_normal().string();
  while (spec.run_dir.size() > 1 && spec.run_dir.back() == '/') spec.run_dir.pop_back();
  if (spec.binary.empty()) spec.binary = self_exe();
  const std::string me = user_name(::geteuid());
  if (!spec.as_user.empty()) check_account(spec.as_user);
  // For another user, everything (folders, files, sbatch) is done by `scaledl submit` running
  // as that user: root never writes into a folder the user controls.
  if (!spec.as_user.empty() && spec.as_user != me) return submit_as_user(spec);

  std::ifstream tf(find_template(spec.kind));
  const std::string script_text = render_sbatch(
      spec, std::string(std::istreambuf_iterator<char>(tf), std::istreambuf_iterator<char>()));
  std::error_code ec;
  fs::create_directories(spec.run_dir, ec);
  if (ec) bad("cannot create the run folder " + spec.run_dir + ": " + ec.message());
  Submitted s{"", spec.run_dir, spec.run_dir + "/job.sbatch", ""};
  write_file_atomic(s.script, script_text);
  ::chmod(s.script.c_str(), 0755);

  const ProcessResult r = run_process({"sbatch", "--parsable", s.script}, kSlurmTimeout);
  if (r.exit_code != 0)
    bad("sbatch refused the job: " + one_line(r) + " (script: " + s.script + ")");
  s.job_id = r.out.substr(0, r.out.find_first_of(";\n"));  // "ID" or "ID;cluster"
  if (s.job_id.empty() || leading_number(s.job_id) == 0)
    bad("sbatch printed no job id: '" + one_line(r) + "'");
  s.log = spec.run_dir + "/slurm-" + s.job_id + ".out";

  // job.json: the link from the run folder to its jobs (every submission of this folder).
  nlohmann::json record = nlohmann::json::object();
  if (std::ifstream old(spec.run_dir + "/job.json"); old) {
    auto j = nlohmann::json::parse(old, nullptr, false);
    if (j.is_object()) record = j;
  }
  nlohmann::json ids = nlohmann::json::array();
  if (record.contains("job_ids") && record["job_ids"].is_array()) ids = record["job_ids"];
  ids.push_back(s.job_id);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  record = {{"schema", 1},
            {"job_id", s.job_id},
            {"job_ids", ids},
            {"kind", job_kind_name(spec.kind)},
            {"user", me},
            {"submitted_at", std::chrono::duration<double>(now).count()},
            {"script", s.script},
            {"log", s.log},
            {"binary", spec.binary},
            {"args", spec.args},
            {"nodes", spec.nodes},
            {"ntasks_per_node", spec.ntasks_per_node},
            {"gpus_per_node", spec.gpus_per_node},
            {"cpus_per_task", spec.cpus_per_task},
            {"mem", spec.mem},
            {"partition", spec.partition},
            {"time", spec.time}};
  write_file_atomic(spec.run_dir + "/job.json", record.dump(2) + "\n");
  return s;
}

nlohmann::json to_json(const JobInfo& j) {
  return {{"job_id", j.id},
          {"name", j.name},
          {"user", j.user},
          {"state", j.state},
          {"partition", j.partition},
          {"nodes", j.nodes},
          {"elapsed", j.elapsed},
          {"time_limit", j.time_limit},
          {"submit_time", j.submit_time},
          {"exit_code", j.exit_code},
          {"reason", j.reason},
          {"run_dir", j.run_dir},
          {"log", j.log}};
}

std::vector<JobInfo> list_jobs(const std::string& user) {
  std::vector<JobInfo> jobs = from_squeue(user);
  std::map<std::string, size_t> at;
  for (size_t i = 0; i < jobs.size(); ++i) at[jobs[i].id] = i;
  for (auto& j : from_sacct(user)) {
    const auto it = at.find(j.id);
    if (it == at.end()) {
      at[j.id] = jobs.size();
      jobs.push_back(std::move(j));
    } else {
      auto& q = jobs[it->second];
      q.exit_code = j.exit_code;
      if (q.run_dir.empty()) q.run_dir = j.run_dir;
    }
  }
  std::stable_sort(jobs.begin(), jobs.end(), [](const JobInfo& a, const JobInfo& b) {
    return leading_number(a.id) > leading_number(b.id);
  });
  return jobs;
}

}  // namespace scaledl::cluster
