/*
 * cmd_apply.c - `sieve apply PLUGIN --in PORT=FILE ... --set KEY=VALUE ... --out FILE`: runs
 * one plugin once on bundle files, outside any pipeline and without a store.
 *
 * It is the researcher's way to try a method on one sample and the tests' way to drive a
 * plugin, so it goes through exactly the code a worker uses: the registry (with its forked
 * validation), host_params_build, runner_run and bundle_write. Inputs are mapped
 * read-only; each requested output is written atomically (tmp, fsync, rename), and nothing is
 * written when the plugin fails.
 *
 * The plugin runs in a forked child (which also writes the outputs), so a plugin that
 * crashes is reported with its signal; --no-fork keeps it in this process for a debugger.
 *
 * `--in FILE` without PORT= is accepted when the plugin has one input port; `--out FILE`
 * without PORT= means the first output port. Outputs not asked for are discarded.
 */
/* nftw is an XSI interface. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fdio.h"
#include "cli.h"
#include "base/bundle.h"
#include "base/err.h"
#include "core/host/host.h"
#include "core/worker/runner.h"

struct binding {
    const char *port; /* NULL: the default port */
    const char *file;
};

struct apply_args {
    const char *plugin;
    struct binding *in, *out;
    size_t n_in, n_out;
    const char **keys, **texts;
    size_t n_set;
    const char *sample_id, *media, *category;
    int no_fork;
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: sieve apply PLUGIN [--in PORT=FILE]... [--set KEY=VALUE]... --out [PORT=]FILE\n"
            "                   [--out PORT=FILE]... [--sample-id ID] [--media PATH]\n"
            "                   [--category C]\n\n"
            "Runs one plugin on bundle (safetensors) files and writes its outputs atomically.\n\n"
            "  --in PORT=FILE     bundle for input port PORT (PORT= may be left out when the\n"
            "                     plugin has one input)\n"
            "  --set KEY=VALUE    a parameter, written as in a pipeline (0.5, [1, 2], \"text\")\n"
            "  --out [PORT=]FILE  where to write output PORT (the first output without PORT=)\n"
            "  --sample-id ID     the sample's id in the plugin's context (default 'sample')\n"
            "  --media PATH       the sample's media file (plugins without inputs read it)\n"
            "  --category C       the sample's category\n"
            "  --no-fork          run the plugin in this process (for a debugger); by default\n"
            "                     it runs in a child so that a crash is reported\n\n"
            "Exit status: 0 done, 1 the plugin or a file failed, 2 usage, 3 not found.\n");
}

/* Splits "PORT=FILE"; a text whose prefix is not a port-like name is all FILE. */
static void
binding_parse(char *text, struct binding *b)
{
    char *eq = strchr(text, '=');
    b->port = NULL;
    b->file = text;
    if (eq && eq > text) {
        for (char *c = text; c < eq; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
                return;
        *eq = '\0';
        b->port = text;
        b->file = eq + 1;
    }
}

static int
grow_append(void **arr, size_t *n, size_t elem, const void *item)
{
    void *np = realloc(*arr, (*n + 1) * elem);
    if (!np)
        return -1;
    memcpy((char *)np + *n * elem, item, elem);
    *arr = np;
    (*n)++;
    return 0;
}

/* Resolves a binding's port to an index; prints the error and returns -1 when it has none. */
static int
resolve_port(const struct host_plugin *p, const struct binding *b, int output)
{
    const struct sieve_port *ports = output ? p->desc->outputs : p->desc->inputs;
    uint32_t n = output ? p->desc->n_outputs : p->desc->n_inputs;
    char list[400];
    int idx;

    if (!b->port) {
        if (n == 0 || (!output && n > 1)) {
            host_port_names(ports, n, list, sizeof list);
            cli_error("apply", "plugin '%s' has %u %s ports (%s): write --%s PORT=FILE", p->name, n,
                      output ? "output" : "input", list, output ? "out" : "in");
            return -1;
        }
        return 0;
    }
    idx = output ? host_plugin_output_index(p, b->port) : host_plugin_input_index(p, b->port);
    if (idx < 0) {
        host_port_names(ports, n, list, sizeof list);
        cli_error("apply", "plugin '%s' has no %s port '%s' (%ss: %s)", p->name,
                  output ? "output" : "input", b->port, output ? "output" : "input", list);
    }
    return idx;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static int
parse_args(int argc, char **argv, struct apply_args *a)
{
    static const struct option opts[] = {
        {"in", required_argument, NULL, 'i'},
        {"set", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},
        {"sample-id", required_argument, NULL, 'I'},
        {"media", required_argument, NULL, 'm'},
        {"category", required_argument, NULL, 'c'},
        {"no-fork", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct binding b;
    char *eq;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
        case 'o':
            binding_parse(optarg, &b);
            if (!b.file[0]) {
                cli_error("apply", "--%s '%s': missing file name", c == 'i' ? "in" : "out", optarg);
                return CLI_EXIT_USAGE;
            }
            if (grow_append(c == 'i' ? (void **)&a->in : (void **)&a->out,
                            c == 'i' ? &a->n_in : &a->n_out, sizeof b, &b) < 0)
                return CLI_EXIT_FAIL;
            break;
        case 's':
            if (!(eq = strchr(optarg, '=')) || eq == optarg) {
                cli_error("apply", "--set '%s': expected KEY=VALUE", optarg);
                return CLI_EXIT_USAGE;
            }
            *eq = '\0';
            {
                const char *k = optarg, *v = eq + 1;
                size_t n = a->n_set;
                if (grow_append((void **)&a->keys, &n, sizeof k, &k) < 0 ||
                    grow_append((void **)&a->texts, &a->n_set, sizeof v, &v) < 0)
                    return CLI_EXIT_FAIL;
            }
            break;
        case 'I':
            a->sample_id = optarg;
            break;
        case 'm':
            a->media = optarg;
            break;
        case 'c':
            a->category = optarg;
            break;
        case 'F':
            a->no_fork = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cli_usage(usage, 0);
        }
    }
    if (argc - optind != 1) {
        cli_error("apply", "expected one PLUGIN, got %d", argc - optind);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    a->plugin = argv[optind];
    if (a->n_out == 0) {
        cli_error("apply", "no --out given: where should the output go?");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/*
 * Runs the plugin and writes the requested outputs. Returns 0, or a negative code with the
 * whole user-facing message in err.
 */
static int
run_and_write(const struct host_plugin *p, const struct sieve_value *vals,
              const struct sieve_ctx *ctx, struct bundle **in, struct bundle **out,
              const char **out_file, struct sieve_errbuf *err)
{
    const struct sieve_plugin *d = p->desc;
    int code;

    err->msg[0] = '\0';
    code = runner_run(p, vals, ctx, (const struct sieve_bundle *const *)in,
                      (struct sieve_bundle *const *)out, err);
    if (code < 0)
        return sieve_errbuf_prefix(err, code, "plugin '%s' failed (%s)", p->name,
                                   sieve_error_class(code));
    for (uint32_t i = 0; i < d->n_outputs; i++) {
        if (!out_file[i])
            continue;
        if ((code = bundle_write(out[i], out_file[i], err)) < 0)
            return code;
        printf("%s: wrote '%s' (%zu tensors, %zu metadata entries)\n", d->outputs[i].name,
               out_file[i], bundle_tensor_count(out[i]), bundle_meta_count(out[i]));
    }
    return 0;
}

/* What the child reports to the parent: the code and the message. */
struct verdict {
    int32_t code;
    char msg[SIEVE_ERRBUF_SIZE];
};

/*
 * run_and_write in a forked child, so that a plugin that crashes is reported as such
 * ("plugin 'x' crashed (signal 11)") instead of taking `sieve apply` down without a word.
 */
static int
run_in_child(const struct host_plugin *p, const struct sieve_value *vals,
             const struct sieve_ctx *ctx, struct bundle **in, struct bundle **out,
             const char **out_file, struct sieve_errbuf *err)
{
    struct verdict v;
    size_t got = 0;
    int fds[2], status;
    pid_t pid;

    if (pipe(fds) < 0)
        return sieve_errbuf_set(err, SIEVE_EIO, "pipe: %s", strerror(errno));
    fflush(NULL);
    if ((pid = fork()) < 0) {
        close(fds[0]);
        close(fds[1]);
        return sieve_errbuf_set(err, SIEVE_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        struct sieve_errbuf e;

        close(fds[0]);
        memset(&v, 0, sizeof v);
        v.code = run_and_write(p, vals, ctx, in, out, out_file, &e);
        if (v.code < 0)
            memcpy(v.msg, e.msg, sizeof v.msg);
        fflush(NULL);
        fd_write_all(fds[1], &v, sizeof v); /* a short report reads as a crash */
        _exit(0);
    }
    close(fds[1]);
    while (got < sizeof v) {
        ssize_t r = read(fds[0], (char *)&v + got, sizeof v - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got == sizeof v) {
        v.msg[sizeof v.msg - 1] = '\0';
        if (v.code < 0)
            return sieve_errbuf_set(err, v.code, "%s", v.msg);
        return 0;
    }
    if (WIFSIGNALED(status))
        return sieve_errbuf_set(err, SIEVE_ECRASH, "plugin '%s' crashed (signal %d)", p->name,
                                WTERMSIG(status));
    return sieve_errbuf_set(err, SIEVE_ECRASH, "plugin '%s' crashed (exit status %d)", p->name,
                            WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Runs the plugin with the parsed arguments; returns an exit status. */
static int
apply(const struct host_plugin *p, const struct apply_args *a)
{
    const struct sieve_plugin *d = p->desc;
    struct sieve_errbuf err = {{0}};
    struct bundle **in = NULL, **out = NULL;
    const char **in_file = NULL, **out_file = NULL;
    struct sieve_value *vals = NULL;
    struct runner_task_ctx t;
    char media_abs[PATH_MAX], scratch[] = "/tmp/sieve-apply-XXXXXX";
    int have_scratch = 0, rc = CLI_EXIT_FAIL, code;

    in = calloc(d->n_inputs + 1, sizeof *in);
    out = calloc(d->n_outputs + 1, sizeof *out);
    in_file = calloc(d->n_inputs + 1, sizeof *in_file);
    out_file = calloc(d->n_outputs + 1, sizeof *out_file);
    if (!in || !out || !in_file || !out_file) {
        cli_error("apply", "out of memory");
        goto done;
    }

    /* Bind every --in and --out before reading anything, so usage errors come first. */
    for (size_t i = 0; i < a->n_in; i++) {
        int idx = resolve_port(p, &a->in[i], 0);
        if (idx < 0) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        if (in_file[idx]) {
            cli_error("apply", "input port '%s' given twice", d->inputs[idx].name);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        in_file[idx] = a->in[i].file;
    }
    for (size_t i = 0; i < a->n_out; i++) {
        int idx = resolve_port(p, &a->out[i], 1);
        if (idx < 0) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        if (out_file[idx]) {
            cli_error("apply", "output port '%s' given twice", d->outputs[idx].name);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        out_file[idx] = a->out[i].file;
    }
    for (uint32_t i = 0; i < d->n_inputs; i++) {
        if (!in_file[i] && !(d->inputs[i].flags & SIEVE_PORT_OPTIONAL)) {
            cli_error("apply", "missing input for port '%s' of plugin '%s' (use --in %s=FILE)",
                      d->inputs[i].name, p->name, d->inputs[i].name);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    }
    if ((code = host_params_build(p, a->keys, a->texts, a->n_set, &vals, &err)) < 0) {
        cli_error("apply", "plugin '%s': %s", p->name, err.msg);
        rc = cli_exit_from_error(code);
        goto done;
    }

    for (uint32_t i = 0; i < d->n_inputs; i++) {
        if (in_file[i] && (code = bundle_read(in_file[i], &in[i], &err)) < 0) {
            cli_error("apply", "%s", err.msg);
            rc = code == SIEVE_ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_FAIL;
            goto done;
        }
    }
    for (uint32_t i = 0; i < d->n_outputs; i++) {
        if (!(out[i] = bundle_new())) {
            cli_error("apply", "out of memory");
            goto done;
        }
    }

    if (a->media && realpath(a->media, media_abs))
        runner_task_ctx_init(&t, NULL, a->sample_id, media_abs, a->category);
    else
        runner_task_ctx_init(&t, NULL, a->sample_id, a->media, a->category);
    if (mkdtemp(scratch)) {
        have_scratch = 1;
        t.ctx.scratch_dir = scratch;
    }

    if (a->no_fork)
        code = run_and_write(p, vals, &t.ctx, in, out, out_file, &err);
    else
        code = run_in_child(p, vals, &t.ctx, in, out, out_file, &err);
    if (code < 0) {
        cli_error("apply", "%s", err.msg);
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    rc = CLI_EXIT_OK;

done:
    if (have_scratch)
        nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    for (uint32_t i = 0; out && i < d->n_outputs; i++)
        bundle_free(out[i]);
    for (uint32_t i = 0; in && i < d->n_inputs; i++)
        bundle_free(in[i]);
    host_params_free(p, vals);
    free(out_file);
    free(in_file);
    free(out);
    free(in);
    return rc;
}

int
cmd_apply(int argc, char **argv)
{
    struct apply_args a = {0};
    struct sieve_errbuf err = {{0}};
    struct host_registry *reg = NULL;
    const struct host_plugin *p;
    int rc;

    rc = parse_args(argc, argv, &a);
    if (rc == -1) {
        rc = CLI_EXIT_OK; /* --help */
        goto out;
    }
    if (rc != CLI_EXIT_OK)
        goto out;
    if (host_registry_scan(NULL, &reg, &err) < 0) {
        cli_error("apply", "%s", err.msg);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if ((rc = cli_plugin_lookup(reg, "apply", a.plugin, &p)) != CLI_EXIT_OK)
        goto out;
    if (host_plugin_is_script_bridge(p)) {
        /* Its ports come from a script pinned by the planner (docs/python-nodes.md). */
        cli_error("apply", "plugin '%s' runs Python node scripts: run it in a pipeline",
                  p->name);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    rc = apply(p, &a);

out:
    host_registry_free(reg);
    free(a.in);
    free(a.out);
    free(a.keys);
    free(a.texts);
    return rc;
}
