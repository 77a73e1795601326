#define _GNU_SOURCE
#include <sys/stat.h>
#include "CHostSupport.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void close_from(int lowest) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, lowest, ~0U, 0) == 0) return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = lowest; fd < max; fd++) close(fd);
}

int ch_spawn(const char *path, char *const argv[], char *const envp[],
             int stdin_fd, int stdout_fd, int stderr_fd, pid_t *pid) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    pid_t parent = getpid();

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t child = fork();
    if (child < 0) {
        int saved = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        close(report[0]);
        close(report[1]);
        return saved;
    }
    if (child == 0) {
        int error = 0;
        for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
        setpgid(0, 0);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) { error = errno; goto fail; }
        if (getppid() != parent) _exit(127);
        /* Move the fds out of 0-2 first so that dup2 cannot clobber one with another. */
        int in = fcntl(stdin_fd, F_DUPFD_CLOEXEC, 3);
        int out = fcntl(stdout_fd, F_DUPFD_CLOEXEC, 3);
        int err = fcntl(stderr_fd, F_DUPFD_CLOEXEC, 3);
        if (in < 0 || out < 0 || err < 0) { error = errno; goto fail; }
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) { error = errno; goto fail; }
        int keep = report[1];
        if (keep != 3) {
            if (dup3(keep, 3, O_CLOEXEC) < 0) { error = errno; goto fail; }
            keep = 3;
        }
        close_from(4);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(path, argv, envp);
        error = errno;
        report[1] = keep;
    fail:
        (void)!write(report[1], &error, sizeof error);
        _exit(127);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(report[1]);
    int child_error = 0;
    ssize_t got;
    do {
        got = read(report[0], &child_error, sizeof child_error);
    } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == sizeof child_error) {
        /* exec failed: the child has exited; the caller's reaper collects it. */
        *pid = child;
        return child_error;
    }
    *pid = child;
    return 0;
}

int ch_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return errno;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int ch_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
}

int ch_file_identity(int fd, unsigned long long *device, unsigned long long *inode) {
    struct stat status;
    if (fstat(fd, &status) != 0) return -1;
    *device = (unsigned long long)status.st_dev;
    *inode = (unsigned long long)status.st_ino;
    return 0;
}
