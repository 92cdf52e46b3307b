/*
 * run_opts.h - the execution options `sieve run` and `sieve resume` share (--devices, --fault,
 * --max-parallel, --heartbeat-*), parsed in one place so both verbs read them alike.
 */
#ifndef SIEVE_CLI_RUN_OPTS_H
#define SIEVE_CLI_RUN_OPTS_H

#include "core/proto/proto.h"
#include "core/sched/sched.h"
#include "run_exec.h"

/* getopt_long codes of the shared options; each verb adds these rows to its own table. */
enum {
    RUN_OPT_DEVICES = 1000,
    RUN_OPT_FAULT,
    RUN_OPT_MAX_PARALLEL,
    RUN_OPT_HEARTBEAT,
    RUN_OPT_HEARTBEAT_TIMEOUT,
    RUN_OPT_STORE,
    RUN_OPT_DURABILITY,
    RUN_OPT_STALL_TIMEOUT,
    RUN_OPT_STARTUP_TIMEOUT,
    RUN_OPT_SPECULATE_AFTER,
    RUN_OPT_EXECUTOR,
    RUN_OPT_SLURM,
};

#define RUN_OPTS_LONGOPTS                                                                          \
    {"devices", required_argument, NULL, RUN_OPT_DEVICES},                                         \
        {"fault", required_argument, NULL, RUN_OPT_FAULT},                                         \
        {"max-parallel", required_argument, NULL, RUN_OPT_MAX_PARALLEL},                           \
        {"heartbeat", required_argument, NULL, RUN_OPT_HEARTBEAT},                                 \
        {"durability", required_argument, NULL, RUN_OPT_DURABILITY},                               \
        {"stall-timeout", required_argument, NULL, RUN_OPT_STALL_TIMEOUT},                         \
        {"startup-timeout", required_argument, NULL, RUN_OPT_STARTUP_TIMEOUT},                     \
        {"speculate-after", required_argument, NULL, RUN_OPT_SPECULATE_AFTER},                     \
        {"executor", required_argument, NULL, RUN_OPT_EXECUTOR},                                   \
        {"slurm", required_argument, NULL, RUN_OPT_SLURM},                                         \
    {                                                                                              \
        "heartbeat-timeout", required_argument, NULL, RUN_OPT_HEARTBEAT_TIMEOUT                    \
    }

/* The defaults in the help come from the constants the scheduler and workers use. */
// clang-format off
#define RUN_OPTS_STR_(x) #x
#define RUN_OPTS_STR(x) RUN_OPTS_STR_(x)
#define RUN_OPTS_HELP                                                                              \
    "  --devices LIST           devices: gpu:0,1  cpu:4  fake:4 (comma-combinable);\n"             \
    "                           default: every NVML GPU plus one CPU slot per core\n"              \
    "  --fault SPEC             fake-device fault, e.g. fake:1:error-after=3,\n"                   \
    "                           fake:0:vanish-after=2:return-after=5s (repeatable; also\n"         \
    "                           $SIEVE_FAULTS); kinds: error, hang, crash, vanish\n"               \
    "  --max-parallel N         at most N tasks at once (default: one per device slot)\n"          \
    "  --heartbeat DUR          worker heartbeat interval\n"                                       \
    "                           (default " RUN_OPTS_STR(PROTO_HEARTBEAT_MS) "ms)\n"                \
    "  --heartbeat-timeout DUR  kill a worker silent this long\n"                                  \
    "                           (default " RUN_OPTS_STR(PROTO_HEARTBEAT_TIMEOUT_MS) "ms)\n"        \
    "  --stall-timeout DUR      kill a task whose plugin makes no progress (no progress or log\n"  \
    "                           call, no output) this long while its worker lives: a hung\n"       \
    "                           GPU call (default " RUN_OPTS_STR(SCHED_STALL_TIMEOUT_MS) "ms)\n"   \
    "  --startup-timeout DUR    restart a worker not ready this long after it starts\n"            \
    "                           (default " RUN_OPTS_STR(SCHED_STARTUP_TIMEOUT_MS) "ms)\n"          \
    "  --speculate-after DUR    a task running 4x its node's median and at least this long\n"      \
    "                           gets a copy on an idle healthy device; the first to finish\n"      \
    "                           wins (default " RUN_OPTS_STR(SCHED_SPECULATE_AFTER_MS) "ms;\n"     \
    "                           off: never)\n"                                                     \
    "  --durability MODE        batch (default; also $SIEVE_DURABILITY): objects are synced\n"     \
    "                           once per index commit; strict: fsync every object\n"               \
    "  --executor KIND          local (default) or slurm: workers run as Slurm pilot jobs\n"     \
    "                           that connect back (docs/slurm.md); also the pipeline's\n"      \
    "                           executor: section\n"                                           \
    "  --slurm KEY=VALUE        a Slurm option (repeatable; over the executor: section):\n"      \
    "                           partition, account, time, mem, gpus (per pilot), cpus,\n"       \
    "                           max_pilots, max_replacements, sbatch (extra arguments),\n"     \
    "                           drain (s), listen (HOST:PORT), advertise (HOST)\n"              \
    "  --store DIR              the store (default $SIEVE_STORE or ./.sieve)\n"
// clang-format on

/*
 * Applies one shared option to `o` (faults are collected into `faults`, capacity `cap`).
 * Returns 1 when `c` was a shared option, 0 when not, -1 on a bad value (message printed).
 */
int run_opts_apply(const char *verb, int c, const char *arg, struct run_exec_opts *o,
                   const char **faults, size_t cap);

/* --slurm values of one command line (argv strings are borrowed). */
#define RUN_OPTS_SLURM_MAX 32

/* "500ms", "2s", "1.5" (seconds), "2m" in milliseconds, or -1. */
int run_opts_duration_ms(const char *s);

#endif
