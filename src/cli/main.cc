// scaledl: command-line entry point. Errors print one line and exit 2.
#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "dist/mpi_group.h"

int main(int argc, char** argv) {
  using namespace scaledl;
  CLI::App app{"scaledl: train and serve deep neural networks, and measure where the time goes"};
  app.name("scaledl");
  app.require_subcommand(1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", SCALEDL_VERSION);
  cli::Runner train = cli::add_train(app), eval = cli::add_eval(app);
  cli::Runner models = cli::add_models(app), info = cli::add_info(app);
  cli::Runner data = cli::add_data(app), comm = cli::add_comm(app);
  cli::Runner infer = cli::add_infer(app), status = cli::add_status(app);
  cli::Runner profile = cli::add_profile(app), doctor = cli::add_doctor(app);
  cli::Runner export_onnx = cli::add_export(app), loadgen = cli::add_loadgen(app);
  cli::Runner submit = cli::add_submit(app), jobs = cli::add_jobs(app);
  cli::Runner study = cli::add_study(app), plan = cli::add_cluster_plan(app);
  cli::Runner portal = cli::add_portal(app);
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    args = cli::protect_job_flags(cli::expand_config(app, args));
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
    if (app.got_subcommand("train")) return train();
    if (app.got_subcommand("eval")) return eval();
    if (app.got_subcommand("models")) return models();
    if (app.got_subcommand("info")) return info();
    if (app.got_subcommand("data")) return data();
    if (app.got_subcommand("comm")) return comm();
    if (app.got_subcommand("infer")) return infer();
    if (app.got_subcommand("status")) return status();
    if (app.got_subcommand("profile")) return profile();
    if (app.got_subcommand("doctor")) return doctor();
    if (app.got_subcommand("export")) return export_onnx();
    if (app.got_subcommand("loadgen")) return loadgen();
    if (app.got_subcommand("submit")) return submit();
    if (app.got_subcommand("jobs")) return jobs();
    if (app.got_subcommand("study")) return study();
    if (app.got_subcommand("plan")) return plan();
    if (app.got_subcommand("portal")) return portal();
    return 0;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "scaledl: error: [flags] %s; see scaledl --help\n", e.what());
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "scaledl: error: %s\n", e.what());
    end_job_on_error(2);  // in an MPI job: end every rank now, not at their timeout
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "scaledl: error: [memory] out of memory; lower --batch or use a smaller "
                 "model\n");
    end_job_on_error(2);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scaledl: error: [internal] %s\n", e.what());
    end_job_on_error(1);
    return 1;
  }
}
