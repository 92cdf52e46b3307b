/*
 * cmd_worker.c - `sieve worker`: the worker process the scheduler starts per device slot, or a
 * pilot that dials the scheduler over TCP (--connect, docs/slurm.md).
 * Not meant to be run by hand; see core/worker/worker.h for the protocol and fd conventions.
 */
#define _GNU_SOURCE /* TCP_USER_TIMEOUT, TCP_KEEPIDLE */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/worker/worker.h"

/* A pilot whose scheduler vanished without closing the connection (its host died, the
 * network split) notices within this many seconds: TCP keepalive probes and a bound on
 * unacknowledged writes, so an idle pilot blocked in read() exits by itself. */
#define PILOT_LOST_S 30

static void
usage(FILE *f)
{
    fprintf(f, "usage: sieve worker [--fd N] [--id ID] [--device DEV] [--heartbeat-ms MS]\n"
               "                    [--plugin-path DIRS] [--cache-states N] [--scratch DIR]\n"
               "                    [--durability batch|strict]\n"
               "       sieve worker --connect HOST:PORT (--token T | --token-file F)\n"
               "                    [--connect-timeout S] [options above]\n\n"
               "Runs tasks sent by a scheduler over the framed protocol on fd N (default 3).\n"
               "Started by 'sieve run'; not meant to be run by hand.\n\n"
               "With --connect it is a pilot (a Slurm job that 'sieve run --executor slurm'\n"
               "submitted): it dials the scheduler, proves itself with the run's token, and runs\n"
               "one worker per device in CUDA_VISIBLE_DEVICES (a CPU worker when it is unset).\n"
               "It retries the connection for --connect-timeout seconds (default 120) and exits\n"
               "when it loses the scheduler; SIGUSR1 drains (running tasks finish, then exit).\n");
}

static int
token_read(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] ? 0 : -1;
}

/* Dials host:port, retrying for timeout_s; returns a connected socket with keepalive set, or
 * -1 with the last error printed. */
static int
dial(const char *hostport, int timeout_s)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host) {
        fprintf(stderr, "sieve worker: --connect '%s': expected HOST:PORT\n", hostport);
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    time_t give_up = time(NULL) + timeout_s;
    char last[256] = "";
    for (unsigned attempt = 0;; attempt++) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        int rc = getaddrinfo(host, colon + 1, &hints, &ai);
        if (rc != 0) {
            snprintf(last, sizeof last, "resolve '%s': %s", host, gai_strerror(rc));
        } else {
            for (struct addrinfo *a = ai; a; a = a->ai_next) {
                int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
                if (fd < 0)
                    continue;
                if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
                    int one = 1, idle = 10, intvl = 5, cnt = (PILOT_LOST_S - 10) / 5;
                    unsigned user_to = PILOT_LOST_S * 1000;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
                    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
                    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
                    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
                    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_to, sizeof user_to);
                    freeaddrinfo(ai);
                    return fd;
                }
                snprintf(last, sizeof last, "connect '%s': %s", hostport, strerror(errno));
                close(fd);
            }
            freeaddrinfo(ai);
        }
        if (time(NULL) >= give_up)
            break;
        /* 100 ms doubling to 2 s: a pilot that starts before its scheduler listens (or
         * while a killed one is being resumed) finds it soon without hammering it. */
        useconds_t us = 100000u << (attempt < 4 ? attempt : 4);
        usleep(us > 2000000 ? 2000000 : us);
    }
    fprintf(stderr, "sieve worker: %s; giving up after %d s\n", last, timeout_s);
    return -1;
}

static pid_t *children;
static size_t n_children;

static void
forward(int sig)
{
    for (size_t i = 0; i < n_children; i++)
        if (children[i] > 0)
            kill(children[i], sig);
}

/* One pilot: a worker per device of CUDA_VISIBLE_DEVICES, each on its own connection (one
 * connection is one slot for the scheduler). The parent forwards SIGTERM and SIGUSR1 and
 * exits 0 when every child did. */
static int
pilot(struct worker_opts *o, const char *connect_to, int timeout_s)
{
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    char list[256];
    snprintf(list, sizeof list, "%s", cvd ? cvd : "");
    char *devs[64];
    size_t n = 0;
    for (char *tok = strtok(list, ","); tok && n < 64; tok = strtok(NULL, ","))
        if (tok[0])
            devs[n++] = tok;
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    char job[64] = "";
    const char *aj = getenv("SLURM_ARRAY_JOB_ID"), *at = getenv("SLURM_ARRAY_TASK_ID");
    const char *jid = getenv("SLURM_JOB_ID");
    if (aj && at)
        snprintf(job, sizeof job, "%s_%s", aj, at);
    else if (jid)
        snprintf(job, sizeof job, "%s", jid);
    o->node = host;
    o->job = job;
    if (n <= 1) {
        char dev[64] = "cpu";
        if (n)
            snprintf(dev, sizeof dev, "cuda:%s", devs[0]);
        o->device = dev;
        int fd = dial(connect_to, timeout_s);
        if (fd < 0)
            return CLI_EXIT_FAIL;
        o->fd = fd;
        return worker_main(o);
    }
    children = calloc(n, sizeof *children);
    if (!children)
        return CLI_EXIT_FAIL;
    n_children = n;
    struct sigaction sa = {.sa_handler = forward};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    for (size_t i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char dev[64], id[32];
            snprintf(dev, sizeof dev, "cuda:%s", devs[i]);
            snprintf(id, sizeof id, "%s.%zu", o->id, i);
            setenv("CUDA_VISIBLE_DEVICES", devs[i], 1);
            signal(SIGTERM, SIG_DFL);
            signal(SIGUSR1, SIG_DFL);
            o->device = dev;
            o->id = id;
            int fd = dial(connect_to, timeout_s);
            if (fd < 0)
                _exit(CLI_EXIT_FAIL);
            o->fd = fd;
            _exit(worker_main(o));
        }
        children[i] = pid;
    }
    int status = 0;
    for (size_t left = n; left > 0;) {
        int ws;
        pid_t pid = wait(&ws);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (size_t i = 0; i < n; i++)
            if (children[i] == pid) {
                children[i] = 0;
                left--;
                if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
                    status = CLI_EXIT_FAIL;
            }
    }
    free(children);
    children = NULL;
    n_children = 0;
    return status;
}

int
cmd_worker(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"fd", required_argument, NULL, 'f'},
        {"id", required_argument, NULL, 'i'},
        {"device", required_argument, NULL, 'd'},
        {"heartbeat-ms", required_argument, NULL, 'b'},
        {"plugin-path", required_argument, NULL, 'p'},
        {"cache-states", required_argument, NULL, 'c'},
        {"scratch", required_argument, NULL, 's'},
        {"durability", required_argument, NULL, 'D'},
        {"connect", required_argument, NULL, 'C'},
        {"token", required_argument, NULL, 'T'},
        {"token-file", required_argument, NULL, 'F'},
        {"connect-timeout", required_argument, NULL, 'W'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct worker_opts o = {.fd = 3, .id = "w0", .device = "cpu", .strict = 1};
    const char *connect_to = NULL, *token_file = NULL;
    static char token[256];
    int c, timeout_s = 120;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            o.fd = atoi(optarg);
            break;
        case 'i':
            o.id = optarg;
            break;
        case 'd':
            o.device = optarg;
            break;
        case 'b':
            o.heartbeat_ms = atoi(optarg);
            break;
        case 'p':
            o.plugin_path = optarg;
            break;
        case 'c':
            o.cache_states = atoi(optarg);
            break;
        case 's':
            o.scratch = optarg;
            break;
        case 'D':
            o.strict = strcmp(optarg, "batch") != 0;
            break;
        case 'C':
            connect_to = optarg;
            break;
        case 'T':
            snprintf(token, sizeof token, "%s", optarg);
            break;
        case 'F':
            token_file = optarg;
            break;
        case 'W':
            timeout_s = atoi(optarg);
            break;
        default:
            return cli_usage(usage, c == 'h');
        }
    }
    if (optind != argc || o.fd < 0) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!connect_to)
        return worker_main(&o);
    if (token_file && token_read(token_file, token, sizeof token) < 0) {
        fprintf(stderr, "sieve worker: token file '%s': cannot read a token\n", token_file);
        return CLI_EXIT_USAGE;
    }
    if (!token[0]) {
        fprintf(stderr, "sieve worker: --connect needs --token or --token-file\n");
        return CLI_EXIT_USAGE;
    }
    o.token = token;
    o.exit_on_term = 1;
    return pilot(&o, connect_to, timeout_s);
}
