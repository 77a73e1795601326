#pragma once
#include <sys/types.h>

/// Starts `path` as a child process that dies with its parent.
///
/// posix_spawn cannot set PR_SET_PDEATHSIG inside the child, so this forks and, in the child
/// (async-signal-safe calls only): puts it in a process group of its own, sets PR_SET_PDEATHSIG to
/// SIGKILL, exits if the parent already died, resets signal dispositions and mask, wires fds 0-2,
/// closes every other descriptor and execs. PR_SET_PDEATHSIG fires when the *thread* that forked
/// exits, so call this from a thread that lives as long as the process.
///
/// Returns 0 and sets `*pid`, or an errno value (including the child's exec failure).
int ch_spawn(const char *path, char *const argv[], char *const envp[],
             int stdin_fd, int stdout_fd, int stderr_fd, pid_t *pid);

/// The peer of a connected Unix socket: pid, uid, gid. Returns 0 or an errno value.
int ch_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/// Same layout as Linux's `struct ucred` (which glibc hides without _GNU_SOURCE): read SO_PEERCRED into it.
struct ch_ucred {
    pid_t pid;
    uid_t uid;
    gid_t gid;
};

/// pipe2(fds, O_CLOEXEC). Returns 0 or an errno value.
int ch_pipe_cloexec(int fds[2]);

/// fstat(2)'s st_dev and st_ino of an open file (the identity JOURNAL_STREAM names). 0 on success.
int ch_file_identity(int fd, unsigned long long *device, unsigned long long *inode);
