// Slurm: the user's jobs (an admin's: everyone's) and submitting a job, as pages and API.
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include "cluster/slurm.h"
#include "core/error.h"
#include "portal/context.h"
#include "portal/pages.h"
#include "portal/web_text.h"
#include "portal/words.h"

namespace scaledl::portal {

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string field(const Fields& f, const char* name) {
  return form_value(f, name);
}

int int_field(const Fields& f, const char* name, int fallback, int lo, int hi) {
  const std::string s = field(f, name);
  if (s.empty()) return fallback;
  int v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi)
    throw HttpError(400, std::string(name) + ": expected a whole number from " +
                             std::to_string(lo) + " to " + std::to_string(hi) + ", got '" + s +
                             "'");
  return v;
}

// Slurm's own words (memory, partition, time) go into the batch script: plain characters only.
std::string slurm_word(const Fields& f, const char* name) {
  const std::string s = field(f, name);
  for (const char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr(":-_.,", c))
      throw HttpError(400, std::string(name) + ": '" + s + "' has characters Slurm does not use");
  if (s.size() > 64) throw HttpError(400, std::string(name) + ": too long");
  return s;
}

// <first root>/<user>, made for the user (owned by them) when missing; refused when it exists
// as someone else's, or as a link.
std::string user_folder(const PortalState& st, const std::string& user) {
  if (!valid_id_component(user))
    throw HttpError(400, "user name '" + user + "' cannot name a run folder");
  const std::string dir = st.index.roots().front() + "/" + user;
  struct passwd* pw = ::getpwnam(user.c_str());
  if (!pw) throw HttpError(403, "no account '" + user + "' on this machine to run the job as");
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    throw HttpError(500, "cannot create " + dir + ": " + std::strerror(errno));
  // Opened without following links, then handed over through the descriptor: a link planted in
  // its place is refused, never followed by root.
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    throw HttpError(403, dir + " is not a folder (a link?): " + std::strerror(errno) +
                             "; ask an admin to fix it");
  struct stat sb;
  const bool ok = ::fstat(fd, &sb) == 0 &&
                  (sb.st_uid == pw->pw_uid ||
                   (st.is_root && sb.st_uid == 0 && ::fchown(fd, pw->pw_uid, pw->pw_gid) == 0 &&
                    ::fstat(fd, &sb) == 0));
  ::close(fd);
  if (!ok || !S_ISDIR(sb.st_mode) || sb.st_uid != pw->pw_uid)
    throw HttpError(403, dir + " is not a folder owned by " + user + "; ask an admin to fix it");
  return dir;
}

std::string timestamp() {
  char buf[32];
  const std::time_t t = std::time(nullptr);
  std::tm tm;
  ::localtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

cluster::Submitted submit_job(PortalState& st, const Session& s, const Fields& f,
                              std::vector<std::string> args) {
  // The job runs as the signed-in user: as root the portal submits for them; otherwise it can
  // only submit for the account it runs as.
  if (!st.is_root && s.user != st.process_user)
    throw HttpError(403, "the portal runs as " + st.process_user +
                             ", not root, so it can only "
                             "submit jobs for " +
                             st.process_user + "; submit with sbatch yourself");
  cluster::JobSpec spec;
  try {
    spec.kind = cluster::parse_job_kind(field(f, "kind").empty() ? "train" : field(f, "kind"));
  } catch (const Error& e) {
    throw HttpError(400, e.message());
  }
  spec.args = std::move(args);
  spec.nodes = int_field(f, "nodes", 1, 1, 4096);
  spec.ntasks_per_node = int_field(f, "ntasks_per_node", 1, 1, 1024);
  spec.cpus_per_task = int_field(f, "cpus_per_task", 0, 0, 1024);
  spec.gpus_per_node = int_field(f, "gpus_per_node", 0, 0, 64);
  spec.mem = slurm_word(f, "mem");
  spec.partition = slurm_word(f, "partition");
  spec.time = slurm_word(f, "time");
  spec.as_user = st.is_root ? s.user : "";
  // A random tail: two submissions in one second get folders of their own.
  spec.run_dir = user_folder(st, s.user) + "/" + cluster::job_kind_name(spec.kind) + "-" +
                 timestamp() + "-" + random_hex(3);
  try {
    return cluster::submit(spec);
  } catch (const Error& e) {
    throw HttpError(400, e.message());
  }
}

std::vector<JobRow> job_rows(const PortalState& st, const Session& s) {
  std::vector<JobRow> rows;
  for (cluster::JobInfo& j : cluster::list_jobs(s.admin ? "" : s.user)) {
    if (!s.admin && j.user != s.user) continue;
    JobRow row{std::move(j), ""};
    if (!row.job.run_dir.empty())
      if (const auto ref = st.index.find_dir(row.job.run_dir); ref && st.viewer(s).may_see(*ref))
        row.run_id = ref->id;
    rows.push_back(std::move(row));
  }
  return rows;
}

nlohmann::json job_json(const JobRow& r) {
  nlohmann::json j = cluster::to_json(r.job);
  j["run_id"] = r.run_id;
  return j;
}

Fields json_fields(const std::string& body, std::vector<std::string>* args) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) throw HttpError(400, "expected a JSON object (kind, args, nodes, ...)");
  Fields f;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "args" && it->is_array()) {
      for (const auto& a : *it) {
        if (!a.is_string()) throw HttpError(400, "args: expected strings");
        args->push_back(a);
      }
      continue;
    }
    if (it->is_string())
      f.emplace_back(it.key(), it->get<std::string>());
    else if (it->is_number_integer())
      f.emplace_back(it.key(), it->dump());
    else
      throw HttpError(400, it.key() + ": expected a string or a whole number");
  }
  if (args->empty() && !form_value(f, "args").empty()) *args = split_words(form_value(f, "args"));
  return f;
}

}  // namespace

void add_job_routes(PortalState& st) {
  httplib::Server& srv = st.server;
  srv.Get(st.route("jobs"), guarded(st, Kind::page, [&st](auto& req, auto& res, const Session& s) {
            std::vector<JobRow> rows;
            std::string error;
            try {
              rows = job_rows(st, s);
            } catch (const Error& e) {
              error = "Slurm: " + e.message();
            }
            send_html(res, jobs_page({st.prefix, s.user, s.admin, s.csrf}, rows,
                                     req.get_param_value("submitted"), error));
          }));
  srv.Get(st.route("api/jobs"), guarded(st, Kind::api, [&st](auto&, auto& res, const Session& s) {
            nlohmann::json list = nlohmann::json::array();
            try {
              for (const JobRow& r : job_rows(st, s)) list.push_back(job_json(r));
            } catch (const Error& e) {
              throw HttpError(503, "Slurm: " + e.message());
            }
            send_json(res, {{"user", s.user}, {"admin", s.admin}, {"jobs", list}});
          }));
  srv.Get(st.route("submit"), guarded(st, Kind::page, [&st](auto&, auto& res, const Session& s) {
            const std::string note = st.is_root
                                         ? "Jobs run as " + s.user + "."
                                         : "The portal runs as " + st.process_user + ": only " +
                                               st.process_user + " can submit here.";
            send_html(res, submit_page({st.prefix, s.user, s.admin, s.csrf}, {}, "", note));
          }));
  srv.Post(
      st.route("submit"), guarded(st, Kind::page, [&st](auto& req, auto& res, const Session& s) {
        const std::optional<Fields> f = parse_form(req.body);
        if (!f) throw HttpError(400, "the form's body is not url-encoded");
        try {
          const cluster::Submitted sub = submit_job(st, s, *f, split_words(form_value(*f, "args")));
          res.set_redirect(st.prefix + "jobs?submitted=" + url_encode(sub.job_id), 303);
        } catch (const HttpError& e) {
          send_html(res, submit_page({st.prefix, s.user, s.admin, s.csrf}, *f, e.what(), ""),
                    e.status());
        } catch (const Error& e) {  // the flags' quoting
          send_html(res, submit_page({st.prefix, s.user, s.admin, s.csrf}, *f, e.message(), ""),
                    400);
        }
      }));
  srv.Post(st.route("api/submit"),
           guarded(st, Kind::api, [&st](auto& req, auto& res, const Session& s) {
             std::vector<std::string> args;
             Fields f;
             try {
               f = json_fields(req.body, &args);
             } catch (const Error& e) {
               throw HttpError(400, e.message());
             }
             const cluster::Submitted sub = submit_job(st, s, f, args);
             send_json(res,
                       {{"job_id", sub.job_id},
                        {"run_dir", sub.run_dir},
                        {"script", sub.script},
                        {"log", sub.log}},
                       201);
           }));
}

}  // namespace scaledl::portal
