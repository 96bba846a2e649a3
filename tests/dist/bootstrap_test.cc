// detect_launch over fake environments (Open MPI, Slurm, torchrun-style, none) and Slurm
// hostlist expansion, including the malformed inputs that must be refused by name.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "dist/bootstrap.h"

namespace {

using scaledl::detect_launch;
using scaledl::Error;
using scaledl::expand_hostlist;
using scaledl::LaunchInfo;
using Env = std::map<std::string, std::string>;
using Hosts = std::vector<std::string>;

LaunchInfo launch(const Env& env) {
  return detect_launch([&env](const char* k) -> const char* {
    auto it = env.find(k);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

// The Error thrown for `env`, which must name `needle`.
void expect_error(const Env& env, const std::string& needle) {
  try {
    launch(env);
    ADD_FAILURE() << "no error; want one naming " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "want '" << needle << "' in: " << e.what();
    EXPECT_EQ(e.component(), "dist");
  }
}

TEST(Bootstrap, NoLauncherIsOneProcess) {
  LaunchInfo li = launch({});
  EXPECT_EQ(li.launcher, "none");
  EXPECT_EQ(li.rank, 0);
  EXPECT_EQ(li.world, 1);
  EXPECT_EQ(li.local_rank, 0);
  EXPECT_EQ(li.local_world, 1);
  EXPECT_TRUE(li.nodes.empty());
  EXPECT_EQ(li.master_port, 0);
}

TEST(Bootstrap, OpenMpi) {
  LaunchInfo li = launch({{"OMPI_COMM_WORLD_RANK", "5"},
                          {"OMPI_COMM_WORLD_SIZE", "8"},
                          {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                          {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}});
  EXPECT_EQ(li.launcher, "mpirun");
  EXPECT_EQ(li.rank, 5);
  EXPECT_EQ(li.world, 8);
  EXPECT_EQ(li.local_rank, 1);
  EXPECT_EQ(li.local_world, 4);
}

TEST(Bootstrap, OpenMpiTakesPrecedenceOverSlurmAndTorchrun) {
  // mpirun inside a Slurm allocation, with a job script that also exports torchrun variables.
  LaunchInfo li = launch({{"OMPI_COMM_WORLD_RANK", "2"},
                          {"OMPI_COMM_WORLD_SIZE", "4"},
                          {"SLURM_PROCID", "0"},
                          {"SLURM_NTASKS", "1"},
                          {"RANK", "0"},
                          {"WORLD_SIZE", "1"},
                          {"MASTER_ADDR", "head"},
                          {"MASTER_PORT", "29500"}});
  EXPECT_EQ(li.launcher, "mpirun");
  EXPECT_EQ(li.rank, 2);
  EXPECT_EQ(li.world, 4);
  EXPECT_EQ(li.local_world, 1);  // not given: a host of one
  EXPECT_EQ(li.master_addr, "head");
  EXPECT_EQ(li.master_port, 29500);
}

TEST(Bootstrap, SlurmWithNodelistAndTasksPerNode) {
  LaunchInfo li = launch({{"SLURM_PROCID", "6"},
                          {"SLURM_NTASKS", "7"},
                          {"SLURM_LOCALID", "0"},
                          {"SLURM_NODEID", "3"},
                          {"SLURM_TASKS_PER_NODE", "2(x3),1"},
                          {"SLURM_JOB_NODELIST", "gpu[01-03],cpu7"},
                          {"RANK", "99"}});  // ignored: srun comes first
  EXPECT_EQ(li.launcher, "srun");
  EXPECT_EQ(li.rank, 6);
  EXPECT_EQ(li.world, 7);
  EXPECT_EQ(li.local_rank, 0);
  EXPECT_EQ(li.local_world, 1);  // node 3 is the "1" after 2(x3)
  EXPECT_EQ(li.nodes, (Hosts{"gpu01", "gpu02", "gpu03", "cpu7"}));
  EXPECT_EQ(li.master_addr, "gpu01");
  EXPECT_EQ(li.master_port, 0);

  li = launch({{"SLURM_PROCID", "3"},
               {"SLURM_NTASKS", "8"},
               {"SLURM_LOCALID", "3"},
               {"SLURM_NODEID", "0"},
               {"SLURM_TASKS_PER_NODE", "4(x2)"},
               {"SLURM_NODELIST", "n[1-2]"},
               {"MASTER_PORT", "1234"}});
  EXPECT_EQ(li.local_world, 4);
  EXPECT_EQ(li.nodes, (Hosts{"n1", "n2"}));
  EXPECT_EQ(li.master_port, 1234);
}

TEST(Bootstrap, SlurmNtasksPerNodeWinsAndMasterAddrOverridesFirstNode) {
  LaunchInfo li = launch({{"SLURM_PROCID", "1"},
                          {"SLURM_NTASKS", "4"},
                          {"SLURM_LOCALID", "1"},
                          {"SLURM_NTASKS_PER_NODE", "2"},
                          {"SLURM_TASKS_PER_NODE", "garbage is not read"},
                          {"SLURM_JOB_NODELIST", "a,b"},
                          {"MASTER_ADDR", "10.0.0.1"}});
  EXPECT_EQ(li.local_world, 2);
  EXPECT_EQ(li.master_addr, "10.0.0.1");
}

TEST(Bootstrap, Torchrun) {
  LaunchInfo li = launch({{"RANK", "3"},
                          {"WORLD_SIZE", "16"},
                          {"LOCAL_RANK", "3"},
                          {"LOCAL_WORLD_SIZE", "8"},
                          {"MASTER_ADDR", "node0.cluster"},
                          {"MASTER_PORT", "29500"}});
  EXPECT_EQ(li.launcher, "torchrun");
  EXPECT_EQ(li.rank, 3);
  EXPECT_EQ(li.world, 16);
  EXPECT_EQ(li.local_rank, 3);
  EXPECT_EQ(li.local_world, 8);
  EXPECT_EQ(li.master_addr, "node0.cluster");
  EXPECT_EQ(li.master_port, 29500);
  // LOCAL_RANK without LOCAL_WORLD_SIZE: the world bounds the host's share.
  li = launch({{"RANK", "5"}, {"WORLD_SIZE", "6"}, {"LOCAL_RANK", "5"}});
  EXPECT_EQ(li.local_world, 6);
  li = launch({{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  EXPECT_EQ(li.local_world, 1);
}

TEST(Bootstrap, InconsistentValuesNameTheVariable) {
  expect_error({{"OMPI_COMM_WORLD_RANK", "4"}, {"OMPI_COMM_WORLD_SIZE", "4"}},
               "OMPI_COMM_WORLD_RANK='4' is not below OMPI_COMM_WORLD_SIZE=4");
  expect_error({{"OMPI_COMM_WORLD_RANK", "x1"}, {"OMPI_COMM_WORLD_SIZE", "4"}},
               "OMPI_COMM_WORLD_RANK='x1' is not a non-negative number");
  expect_error({{"OMPI_COMM_WORLD_RANK", "1"}}, "OMPI_COMM_WORLD_SIZE is not set");
  expect_error({{"OMPI_COMM_WORLD_RANK", "0"},
                {"OMPI_COMM_WORLD_SIZE", "2"},
                {"OMPI_COMM_WORLD_LOCAL_RANK", "2"},
                {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}},
               "OMPI_COMM_WORLD_LOCAL_RANK='2'");
  expect_error({{"SLURM_PROCID", "0"}}, "SLURM_NPROCS is not set");
  expect_error({{"SLURM_PROCID", "-1"}, {"SLURM_NTASKS", "2"}}, "SLURM_PROCID='-1'");
  expect_error({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "0"}}, "SLURM_NTASKS='0' must be at least 1");
  expect_error({{"SLURM_PROCID", "0"},
                {"SLURM_NTASKS", "4"},
                {"SLURM_NODEID", "2"},
                {"SLURM_TASKS_PER_NODE", "2,2"}},
               "SLURM_TASKS_PER_NODE='2,2' lists fewer nodes");
  expect_error({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_TASKS_PER_NODE", "2(x2"}},
               "SLURM_TASKS_PER_NODE='2(x2'");
  expect_error({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_NODELIST", "n[1-"}},
               "SLURM_JOB_NODELIST='n[1-'");
  expect_error({{"RANK", "2"}}, "WORLD_SIZE is not set");
  expect_error({{"WORLD_SIZE", "2"}}, "RANK is not set");
  expect_error({{"RANK", "1"}, {"WORLD_SIZE", "2 "}}, "WORLD_SIZE='2 '");
  expect_error({{"RANK", "1"}, {"WORLD_SIZE", "99999999999"}}, "WORLD_SIZE='99999999999'");
  expect_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_WORLD_SIZE", "3"}},
               "LOCAL_WORLD_SIZE='3' must be between 1 and WORLD_SIZE=2");
  expect_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}},
               "MASTER_PORT='70000' is not a port");
  expect_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "0"}}, "MASTER_PORT='0'");
}

TEST(Hostlist, Expands) {
  EXPECT_EQ(expand_hostlist(""), Hosts{});
  EXPECT_EQ(expand_hostlist("gpu5"), Hosts{"gpu5"});
  EXPECT_EQ(expand_hostlist("a,b,c"), (Hosts{"a", "b", "c"}));
  EXPECT_EQ(expand_hostlist("node[01-03,07],gpu5,rack[1-2]-n[1-2]"),
            (Hosts{"node01", "node02", "node03", "node07", "gpu5", "rack1-n1", "rack1-n2",
                   "rack2-n1", "rack2-n2"}));
  EXPECT_EQ(expand_hostlist("n[8-11]"), (Hosts{"n8", "n9", "n10", "n11"}));
  EXPECT_EQ(expand_hostlist("n[08-11]"), (Hosts{"n08", "n09", "n10", "n11"}));
  EXPECT_EQ(expand_hostlist("n[098-101]"), (Hosts{"n098", "n099", "n100", "n101"}));
  EXPECT_EQ(expand_hostlist("n[5]"), Hosts{"n5"});
  EXPECT_EQ(expand_hostlist("n[0]x"), Hosts{"n0x"});
  EXPECT_EQ(expand_hostlist("[1-2]"), (Hosts{"1", "2"}));
  EXPECT_EQ(expand_hostlist("a[1,3]b[7]c"), (Hosts{"a1b7c", "a3b7c"}));
  EXPECT_EQ(expand_hostlist("x-[1-2],y.z"), (Hosts{"x-1", "x-2", "y.z"}));
  EXPECT_EQ(expand_hostlist("r[1-2]n[1-3]").size(), 6u);
  EXPECT_EQ(expand_hostlist("big[0001-1000]").back(), "big1000");
  EXPECT_EQ(expand_hostlist("big[0001-1000]").size(), 1000u);
}

TEST(Hostlist, MalformedIsRefusedByName) {
  for (const std::string bad :
       {"n[", "n]", "n[1-", "n[]", "n[1-2", "n[3-1]", "n[a-b]", "n[1,,2]", "n[1-2-3]", "n[[1]]",
        "a,,b", ",a", "a,", "n[1]]", "a b", "n[-1]", "n[1-]", "n[0-99999999]",
        "r[0-9999]n[0-9999]", "n[1234567890]"}) {
    try {
      expand_hostlist(bad);
      ADD_FAILURE() << "no error for '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'" + bad + "'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("malformed hostlist"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
