// A test peer (a simulator, a local HTTP server) run as a child process that announces
// itself on its first stdout line.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

extern char** environ;

namespace granary::testing {

struct Peer {
  pid_t pid = 0;           // 0: it did not start
  std::string first_line;  // without the newline; "" when none came within 10 s
};

// Starts `argv` (argv[0] a full path) with stdout on a pipe and reads its first line, up to
// and including the newline: a peer writing that newline separately must not find the pipe
// closed. Nothing more is read, so the peer must print nothing else on stdout.
inline Peer StartPeer(std::vector<std::string> argv) {
  Peer peer;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return peer;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  int rc = posix_spawn(&peer.pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    peer.pid = 0;
    return peer;
  }
  std::string line;
  char c;
  pollfd pfd{out[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && poll(&pfd, 1, 10'000) == 1 &&
         read(out[0], &c, 1) == 1) {
    line += c;
  }
  close(out[0]);
  if (!line.empty() && line.back() == '\n') line.pop_back();
  peer.first_line = line;
  return peer;
}

inline void StopPeer(Peer& peer) {
  if (peer.pid <= 0) return;
  kill(peer.pid, SIGTERM);
  waitpid(peer.pid, nullptr, 0);
  peer.pid = 0;
}

}  // namespace granary::testing
