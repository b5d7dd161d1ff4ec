/* The task wrapper of task_wrapper.py in C: the same arguments, protocol and exit, at a fraction of the
 * cost (no interpreter start per task). `make` builds it into the virtualenv; the cluster uses it when it
 * is there and falls back to the Python one otherwise.
 *
 *     scale-task-wrapper <exit status file> <ready fd> <executable> <argv0> [args...]
 *
 * Reports on <ready fd> whether the command started ("+", or "-" and the error), waits for it, writes its
 * exit code (negative: the signal that ended it) to <exit status file> atomically, and ends as it did.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t received = 0;

static void remember(int signum) {
    if (!received) received = signum;
}

static void write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t n = write(fd, data, length);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        data += n;
        length -= (size_t)n;
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s <exit status file> <ready fd> <executable> <argv0> [args...]\n", argv[0]);
        return 2;
    }
    const char *status_path = argv[1];
    int ready_fd = atoi(argv[2]);
    const char *executable = argv[3];
    char **args = argv + 4;
    fcntl(ready_fd, F_SETFD, FD_CLOEXEC); /* the command must not hold it: the cluster reads it to EOF */

    /* As Python does at start-up: a cluster gone before the wrapper reports (its end of the ready pipe
     * closed) must not kill the wrapper with SIGPIPE; it outlives the cluster to record the exit. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);

    struct sigaction forward = {0};
    forward.sa_handler = remember;
    sigemptyset(&forward.sa_mask);
    sigaction(SIGTERM, &forward, NULL);
    sigaction(SIGINT, &forward, NULL);

    int error_pipe[2];
    if (pipe2(error_pipe, O_CLOEXEC) != 0) return 127;
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) {
        close(error_pipe[0]);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGXFSZ, SIG_DFL);
        if (received) kill(getpid(), received); /* the group was signalled before the reset */
        execvp(executable, args);               /* searches the task's PATH */
        char message[4096];
        int length = snprintf(message, sizeof message, "[Errno %d] %s: '%s'", errno, strerror(errno), executable);
        write_all(error_pipe[1], message, length > 0 ? (size_t)length : 0);
        _exit(127);
    }
    close(error_pipe[1]);
    char error[4096];
    size_t error_length = 0;
    for (;;) {
        ssize_t n = read(error_pipe[0], error + error_length, sizeof error - 1 - error_length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        error_length += (size_t)n;
        if (error_length >= sizeof error - 1) break;
    }
    close(error_pipe[0]);
    if (error_length) {
        write_all(2, "Failed to launch command: ", 26);
        write_all(2, error, error_length);
        write_all(2, "\n", 1);
        write_all(ready_fd, "-", 1);
        write_all(ready_fd, error, error_length);
    } else {
        write_all(ready_fd, "+", 1);
    }
    close(ready_fd); /* the cluster may be gone: a restarted one recovers the task from its checkpoint */

    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return 127;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    size_t path_length = strlen(status_path);
    char *partial = malloc(path_length + sizeof ".partial");
    if (partial == NULL) return 127;
    memcpy(partial, status_path, path_length);
    memcpy(partial + path_length, ".partial", sizeof ".partial");
    FILE *out = fopen(partial, "w");
    if (out != NULL) {
        fprintf(out, "%d", code);
        if (fclose(out) == 0) rename(partial, status_path);
    }
    if (code >= 0) _exit(code);
    signal(-code, SIG_DFL);
    kill(getpid(), -code);
    _exit(128 - code); /* a signal whose default is not to terminate */
}
