#include "train/sweep_mpi.h"

#include <mpi.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"

namespace kiln::train {
namespace {

// Rank 0 -> worker: {"op": "start", "session": H, "argv": [...], "log": PATH} or {"op": "quit"}.
// Worker -> rank 0: {"session": H, "status": S} when a session has ended. Small JSON texts, a few
// per session. There is no "stop": a stopped sweep ends the whole job (see stop_all).
constexpr int kToWorker = 0x6b73;  // "ks"
constexpr int kToRank0 = 0x6b74;

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(std::string("kiln sweep: MPI: ") + what +
              " failed: " + std::string(msg, static_cast<size_t>(len)));
}

void send_json(const nlohmann::json& j, int dest, int tag) {
  const std::string bytes = j.dump();
  KILN_CHECK(bytes.size() < static_cast<size_t>(INT32_MAX), "kiln sweep: a message of ",
             bytes.size(), " bytes is too big");
  check_mpi(
      MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD),
      "MPI_Send");
}

struct Message {
  int source = 0;
  nlohmann::json body;
};

// The next message with `tag` from `source` (or MPI_ANY_SOURCE); without `wait`, nullopt when
// none has arrived.
std::optional<Message> receive_json(int source, int tag, bool wait) {
  MPI_Status status;
  int arrived = 1;
  if (wait)
    check_mpi(MPI_Probe(source, tag, MPI_COMM_WORLD, &status), "MPI_Probe");
  else
    check_mpi(MPI_Iprobe(source, tag, MPI_COMM_WORLD, &arrived, &status), "MPI_Iprobe");
  if (!arrived) return std::nullopt;
  int count = 0;
  check_mpi(MPI_Get_count(&status, MPI_CHAR, &count), "MPI_Get_count");
  std::string bytes(static_cast<size_t>(count), '\0');
  check_mpi(MPI_Recv(bytes.data(), count, MPI_CHAR, status.MPI_SOURCE, tag, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE),
            "MPI_Recv");
  Message m{status.MPI_SOURCE, nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false)};
  KILN_CHECK(m.body.is_object(), "kiln sweep: rank ", m.source, " sent a malformed message");
  return m;
}

class MpiLauncher : public TrialLauncher {
 public:
  MpiLauncher(Distributed& world, int64_t parallel)
      : world_(world),
        parallel_(parallel),
        local_(make_local_launcher(parallel)),
        load_(static_cast<size_t>(world.size()), 0) {
    KILN_CHECK(world.rank() == 0, "kiln sweep: only rank 0 schedules");
  }

  int64_t slots() const override { return parallel_ * world_.size(); }

  int64_t start(const std::vector<std::string>& argv, const std::string& log_path) override {
    int rank = 0;
    for (int r = 1; r < world_.size(); ++r)
      if (load_[static_cast<size_t>(r)] < load_[static_cast<size_t>(rank)]) rank = r;
    const int64_t handle = next_handle_++;
    if (rank == 0) {
      local_handles_[local_->start(argv, log_path)] = handle;
    } else {
      send_json({{"op", "start"}, {"session", handle}, {"argv", argv}, {"log", log_path}}, rank,
                kToWorker);
    }
    rank_of_[handle] = rank;
    ++load_[static_cast<size_t>(rank)];
    return handle;
  }

  std::optional<SessionEnd> poll() override {
    if (const auto end = local_->poll()) {
      const auto it = local_handles_.find(end->handle);
      KILN_CHECK(it != local_handles_.end(), "kiln sweep: an unknown local session ended");
      const int64_t handle = it->second;
      local_handles_.erase(it);
      return ended(handle, 0, end->status);
    }
    if (const auto m = receive_json(MPI_ANY_SOURCE, kToRank0, /*wait=*/false))
      return ended(m->body.value("session", int64_t{-1}), m->source, m->body.value("status", -1));
    return std::nullopt;
  }

  // Stops rank 0's own sessions only. A sweep stops on SIGINT or SIGTERM, which mpirun sends to
  // every rank when it is interrupted or ends the job; rank 0 then exits unfinalized
  // (tools/cmd_sweep.cpp), so that mpirun ends the job, and each worker stops its own sessions
  // on the signal. No message goes to the workers: one that has died would block the send.
  void stop_all() override {
    local_->stop_all();
    local_handles_.clear();
    rank_of_.clear();
    std::fill(load_.begin(), load_.end(), 0);
  }

  std::string where(int64_t handle) const override {
    const auto it = rank_of_.find(handle);
    return it == rank_of_.end() ? "" : " on rank " + std::to_string(it->second);
  }

 private:
  SessionEnd ended(int64_t handle, int rank, int status) {
    const auto it = rank_of_.find(handle);
    KILN_CHECK(it != rank_of_.end() && it->second == rank, "kiln sweep: rank ", rank,
               " reported the end of session ", handle, ", which it does not run");
    rank_of_.erase(it);
    --load_[static_cast<size_t>(rank)];
    return {handle, status};
  }

  Distributed& world_;
  int64_t parallel_;
  std::unique_ptr<TrialLauncher> local_;      // rank 0's own sessions
  std::vector<int64_t> load_;                 // sessions running on each rank
  std::map<int64_t, int> rank_of_;            // running session -> its rank
  std::map<int64_t, int64_t> local_handles_;  // local launcher's handle -> session
  int64_t next_handle_ = 0;
};

// A test of worker failure: KILN_TEST_SWEEP_KILL_RANK=R makes worker rank R kill itself (SIGKILL,
// as a crashed or lost machine would end) when the first session is sent to it.
bool killed_for_test(int rank) {
  const char* r = std::getenv("KILN_TEST_SWEEP_KILL_RANK");
  return r != nullptr && std::string(r) == std::to_string(rank);
}

}  // namespace

std::unique_ptr<TrialLauncher> make_mpi_launcher(Distributed& world, int64_t parallel) {
  return std::make_unique<MpiLauncher>(world, parallel);
}

void release_sweep_workers(Distributed& world) {
  for (int r = 1; r < world.size(); ++r) send_json({{"op", "quit"}}, r, kToWorker);
}

int run_sweep_worker(Distributed& world, const std::function<int()>& stop_requested) {
  KILN_CHECK(world.rank() > 0, "kiln sweep: rank 0 is not a worker");
  // Rank 0 sends no more sessions than it allows at once; the local launcher only runs them.
  const auto local = make_local_launcher(1);
  std::map<int64_t, int64_t> sessions;  // local handle -> rank 0's session handle
  auto report = [](int64_t session, int status) {
    send_json({{"session", session}, {"status", status}}, 0, kToRank0);
  };
  while (true) {
    if (const int signal = stop_requested()) {
      local->stop_all();  // each writes its checkpoint; the caller then ends the job
      return 128 + signal;
    }
    if (const auto m = receive_json(0, kToWorker, /*wait=*/false)) {
      const std::string op = m->body.value("op", "");
      if (op == "start") {
        if (killed_for_test(world.rank())) ::raise(SIGKILL);
        const auto argv = m->body.at("argv").get<std::vector<std::string>>();
        const auto session = m->body.at("session").get<int64_t>();
        sessions[local->start(argv, m->body.at("log").get<std::string>())] = session;
      } else if (op == "quit") {
        KILN_CHECK(sessions.empty(), "kiln sweep: rank 0 ended the sweep while rank ", world.rank(),
                   " still runs ", sessions.size(), " trial(s)");
        return 0;
      } else {
        throw Error("kiln sweep: rank 0 sent an unknown request '" + op + "'");
      }
      continue;
    }
    if (const auto end = local->poll()) {
      const auto it = sessions.find(end->handle);
      KILN_CHECK(it != sessions.end(), "kiln sweep: an unknown local session ended");
      report(it->second, end->status);
      sessions.erase(it);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

}  // namespace kiln::train
