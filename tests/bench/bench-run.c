/* SPDX-License-Identifier: Apache-2.0 */
/* bench-run: runs a command N times and prints its median wall time, median CPU time (user + system,
 * its waited-for descendants included) and largest peak RSS, from wait4()'s rusage: what
 * /usr/bin/time -v shows, over several runs; then the 90th percentiles of wall and CPU time. A command
 * that fails makes bench-run fail (exit 1) with its stderr, so a benchmark never prints a figure of
 * something that did not work. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_s(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

/* Runs argv with stdout to /dev/null and stderr to errfd; 0 when it exited 0. */
static int run_once(char **argv, int errfd, double *ret_wall, double *ret_cpu, long *ret_maxrss) {
        posix_spawn_file_actions_t fa;
        struct rusage ru;
        double t0;
        pid_t pid;
        int status, r;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        if (errfd >= 0)
                posix_spawn_file_actions_adddup2(&fa, errfd, STDERR_FILENO);
        t0 = now_s();
        r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0) {
                fprintf(stderr, "bench-run: cannot run %s: %s\n", argv[0], strerror(r));
                return -r;
        }
        while (wait4(pid, &status, 0, &ru) < 0)
                if (errno != EINTR)
                        return -errno;
        *ret_wall = now_s() - t0;
        *ret_cpu = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
                   (double) ru.ru_stime.tv_usec / 1e6;
        *ret_maxrss = ru.ru_maxrss;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EPROTO;
}

int main(int argc, char *argv[]) {
        const char *before = NULL;
        double *wall, *cpu;
        long maxrss = 0;
        int n = 3, c;

        while ((c = getopt(argc, argv, "+n:b:")) >= 0)
                switch (c) {
                case 'n':
                        n = atoi(optarg);
                        break;
                case 'b':
                        before = optarg;
                        break;
                default:
                        fprintf(stderr, "Usage: bench-run [-n RUNS] [-b SHELL_COMMAND_BEFORE_EACH_RUN] COMMAND [ARG...]\n");
                        return 2;
                }
        if (optind >= argc || n < 1) {
                fprintf(stderr, "Usage: bench-run [-n RUNS] [-b SHELL_COMMAND_BEFORE_EACH_RUN] COMMAND [ARG...]\n");
                return 2;
        }
        wall = calloc((size_t) n, sizeof(double));
        cpu = calloc((size_t) n, sizeof(double));
        if (!wall || !cpu)
                return 2;
        for (int i = 0; i < n; i++) {
                char errpath[] = "/tmp/bench-run.XXXXXX";
                int errfd = mkstemp(errpath);
                long rss = 0;

                if (errfd >= 0)
                        (void) unlink(errpath);
                if (before) {
                        char *sh[] = { "/bin/sh", "-c", (char *) before, NULL };
                        double w, u;
                        long m;
                        if (run_once(sh, errfd, &w, &u, &m) < 0) {
                                fprintf(stderr, "bench-run: the command before the run failed: %s\n", before);
                                goto failed;
                        }
                }
                if (run_once(argv + optind, errfd, &wall[i], &cpu[i], &rss) < 0) {
                        fprintf(stderr, "bench-run: %s failed (run %d)\n", argv[optind], i + 1);
                        goto failed;
                }
                if (rss > maxrss)
                        maxrss = rss;
                if (errfd >= 0)
                        (void) close(errfd);
                continue;
        failed:
                if (errfd >= 0) {
                        char buf[4096];
                        ssize_t k;
                        (void) lseek(errfd, 0, SEEK_SET);
                        while ((k = read(errfd, buf, sizeof(buf))) > 0)
                                (void) fwrite(buf, 1, (size_t) k, stderr);
                }
                return 1;
        }
        qsort(wall, (size_t) n, sizeof(double), cmp_double);
        qsort(cpu, (size_t) n, sizeof(double), cmp_double);
        /* p90: the nearest rank, ceil(0.9 n). */
        int p90 = (9 * n + 9) / 10 - 1;
        printf("wall_s=%.4f cpu_s=%.4f maxrss_kib=%ld runs=%d wall_p90_s=%.4f cpu_p90_s=%.4f\n", wall[n / 2], cpu[n / 2],
               maxrss, n, wall[p90], cpu[p90]);
        free(wall);
        free(cpu);
        return 0;
}
