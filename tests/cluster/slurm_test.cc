// render_sbatch: #SBATCH lines from the spec, shell quoting of the job's flags, refusals of
// values that would add lines to the script; the repository's templates render completely.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "cluster/slurm.h"
#include "core/error.h"

namespace scaledl::cluster {
namespace {

std::string read_template(const std::string& kind) {
  std::ifstream f(std::string(SCALEDL_SOURCE_DIR) + "/deploy/slurm/" + kind + ".sbatch.in");
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

JobSpec spec() {
  JobSpec s;
  s.run_dir = "/runs/alice/r1";
  s.binary = "/opt/scaledl/bin/scaledl";
  return s;
}

TEST(ClusterSlurm, RendersResourcesAndQuotedArgs) {
  JobSpec s = spec();
  s.nodes = 2, s.ntasks_per_node = 4, s.gpus_per_node = 4, s.cpus_per_task = 8;
  s.mem = "64G", s.partition = "gpu", s.time = "01:30:00";
  s.args = {"--model", "resnet50", "--note", "it's a test; rm -rf /", "--data", "records:/d"};
  const std::string out = render_sbatch(s, read_template("train"));
  for (const char* line :
       {"#SBATCH --job-name=scaledl-train\n", "#SBATCH --nodes=2\n",
        "#SBATCH --ntasks-per-node=4\n", "#SBATCH --cpus-per-task=8\n",
        "#SBATCH --gpus-per-node=4\n", "#SBATCH --mem=64G\n", "#SBATCH --partition=gpu\n",
        "#SBATCH --time=01:30:00\n", "#SBATCH --chdir=/runs/alice/r1\n",
        "#SBATCH --output=/runs/alice/r1/slurm-%j.out\n"})
    EXPECT_NE(out.find(line), std::string::npos) << line;
  EXPECT_NE(
      out.find("exec srun --mpi=pmix /opt/scaledl/bin/scaledl train --run-dir /runs/alice/r1"),
      std::string::npos);
  // One word each for the shell, whatever they hold.
  EXPECT_NE(out.find("--note 'it'\\''s a test; rm -rf /' --data records:/d"), std::string::npos);
  EXPECT_EQ(out.find("{{"), std::string::npos);
  EXPECT_EQ(out.rfind("#!/bin/bash\n", 0), 0u);
}

TEST(ClusterSlurm, OmitsWhatIsNotGiven) {
  const std::string out = render_sbatch(spec(), read_template("infer"));
  for (const char* flag : {"--gpus-per-node", "--cpus-per-task", "--mem=", "--partition", "--time"})
    EXPECT_EQ(out.find(flag), std::string::npos) << flag;
  EXPECT_NE(out.find("scaledl infer --run-dir /runs/alice/r1"), std::string::npos);
  EXPECT_NE(render_sbatch(spec(), read_template("loadgen")).find("loadgen --output /runs/alice/r1"),
            std::string::npos);
}

TEST(ClusterSlurm, RefusesValuesThatAddScriptLines) {
  JobSpec s = spec();
  s.partition = "debug\n#SBATCH --uid=0";
  EXPECT_THROW(render_sbatch(s, read_template("train")), Error);
  s = spec();
  s.time = "10 --uid=0";
  EXPECT_THROW(render_sbatch(s, read_template("train")), Error);
  s = spec();
  s.run_dir = "/runs/a b";
  EXPECT_THROW(render_sbatch(s, read_template("train")), Error);
  s = spec();
  s.args = {"--model", "lenet5\nscancel -u alice"};
  EXPECT_THROW(render_sbatch(s, read_template("train")), Error);
  EXPECT_THROW(render_sbatch(spec(), "#!/bin/bash\n{{SBATCH_OPTIONS}}\n{{NOPE}}\n"), Error);
  // A flag may hold braces: placeholders are the template's, checked before it is filled in.
  s = spec();
  s.args = {"--note", "{{ARGS}} {{NOPE}}"};
  EXPECT_NE(render_sbatch(s, read_template("train")).find("--note '{{ARGS}} {{NOPE}}'"),
            std::string::npos);
}

TEST(ClusterSlurm, JobKinds) {
  EXPECT_EQ(parse_job_kind("loadgen"), JobKind::loadgen);
  EXPECT_STREQ(job_kind_name(parse_job_kind("infer")), "infer");
  EXPECT_THROW(parse_job_kind("fly"), Error);
}

}  // namespace
}  // namespace scaledl::cluster
