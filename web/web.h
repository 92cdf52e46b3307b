/*
 * web.h - the HTTP JSON API of `sieve serve`, on the scheduler's libuv loop.
 *
 * The server reads the store (runs, tasks, logs, tables, artifacts, devices, events) and
 * hands writes (submit, cancel, resume) to the daemon through hooks; it never issues SQL and
 * never runs a task itself. Every callback, hook and store read runs on the loop's thread,
 * so nothing here locks. docs/http-api.md is the reference of the endpoints.
 *
 * Security: the server binds 127.0.0.1 unless told otherwise (a non-loopback address needs
 * `allow_remote`); write endpoints need `Authorization: Bearer <token>` and refuse an Origin
 * that is not the server's own; artifacts are addressed by their 64-hex key only. Limits
 * (WEB_MAX_BODY, WEB_MAX_HEADER_BYTES, WEB_MAX_HEADERS, the request timeout) bound what one
 * client can make the daemon hold.
 *
 * Usage (cli/cmd_serve.c):
 *     char tok[WEB_TOKEN_LEN];
 *     web_token_ensure(store_dir(st), tok, sizeof tok, &err);
 *     struct web_opts o = { .loop = loop, .st = st, .listen = "127.0.0.1:8470", .token = tok,
 *                           .hooks = { .ud = daemon, .submit = daemon_submit, ... } };
 *     struct web_server *w;
 *     if (web_server_new(&o, &w, &err) < 0) die(err.msg);
 *     ... web_publish(w, "progress", "{\"run\":3,\"done\":10}") ...
 *     web_server_close(w, on_web_closed, daemon);   // on_web_closed frees nothing of w
 */
#ifndef SIEVE_WEB_WEB_H
#define SIEVE_WEB_WEB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <sieve/plugin.h>

struct store;
struct web_server;

/* Limits: a request body (POST /api/runs), the request head (all header lines together) and
 * the number of header lines. Beyond them: 413, 431, 431. */
#define WEB_MAX_BODY (1024 * 1024)
#define WEB_MAX_HEADER_BYTES (16 * 1024)
#define WEB_MAX_HEADERS 64
/* A connection that sends no complete request within this time is closed (idle keep-alive
 * connections, and slow senders of a request head or body). */
#define WEB_TIMEOUT_MS 10000
/* After web_server_close, connections still open this long are shut down. */
#define WEB_CLOSE_GRACE_MS 1000
/* Events kept for Last-Event-ID reconnects. */
#define WEB_EVENT_RING 1024
/* The token's text: 64 hex digits and a NUL. */
#define WEB_TOKEN_LEN 65

struct web_submit {   /* a submitted pipeline, as the request carried it */
    const char *path; /* absolute path of the YAML (relative dataset paths resolve from it) */
    const char *text; /* the YAML text */
    const char *const *sets; /* "key=value" overrides */
    size_t n_sets;
    int priority;
};

/*
 * The daemon's side. Each may be NULL (the endpoint answers 503 with a JSON error). A hook's
 * error code picks the status: SIEVE_ENOENT 404, SIEVE_EINVAL/ESPEC/EFORMAT/EBADINPUT 400,
 * SIEVE_EEXIST 409, anything else 500; err's message is the JSON error text.
 */
struct web_hooks {
    void *ud;
    int (*submit)(void *ud, const struct web_submit *req, int64_t *run, struct sieve_errbuf *err);
    int (*cancel)(void *ud, int64_t run, struct sieve_errbuf *err);
    int (*resume)(void *ud, int64_t run, struct sieve_errbuf *err);
    /* JSON text of the live device pool (caller frees), or NULL: devices come from the store */
    char *(*devices_json)(void *ud);
};

struct web_opts {
    uv_loop_t *loop;    /* the scheduler's loop; every callback runs on it */
    struct store *st;   /* borrowed, read on the loop thread */
    const char *listen; /* "127.0.0.1:8470"; port 0 picks one; NULL: 127.0.0.1:8470 */
    int allow_remote;   /* a non-loopback address needs this (serve's --listen-any) */
    const char *token;  /* bearer token required by write endpoints; NULL or "": writes refused */
    const char *static_dir; /* served at / (web/static); NULL: none */
    struct web_hooks hooks;
    int timeout_ms; /* request and idle timeout; 0: WEB_TIMEOUT_MS (tests use less) */
};

/*
 * Binds and listens on o->listen and serves on o->loop; SIGPIPE is ignored from then on (a
 * client that closes its socket must not kill the daemon). Errors: SIEVE_EINVAL (a malformed
 * address, or a non-loopback one without allow_remote), SIEVE_EIO (bind or listen failed,
 * the uv message kept), SIEVE_ENOMEM. Ownership: web_server_close; strings of `o` are copied.
 */
int web_server_new(const struct web_opts *o, struct web_server **out, struct sieve_errbuf *err);

/* The bound port (the one the kernel picked for port 0). */
int web_server_port(const struct web_server *w);

/*
 * Publishes one Server-Sent Event to every /api/events client; ids increase; a ring buffer
 * of recent events (WEB_EVENT_RING) serves Last-Event-ID reconnects. `event` is a name
 * without newlines ("progress", "device"); `json_data` one JSON document (newlines in it are
 * sent as several data lines). A client too slow to take them misses events beyond 4 MiB
 * queued, and reconnecting gets them from the ring. Thread: the loop's.
 */
void web_publish(struct web_server *w, const char *event, const char *json_data);

/*
 * Stops listening and closes connections; done(ud) runs once every handle is closed. Event
 * streams end at once; a request in flight has WEB_CLOSE_GRACE_MS to finish, then every
 * connection still open (idle keep-alive, a client that stopped reading) is shut down.
 * `w` is freed before done runs.
 */
void web_server_close(struct web_server *w, void (*done)(void *ud), void *ud);

/*
 * Creates `<store_dir>/serve.token` (mode 0600, 32 random bytes from /dev/urandom as 64 hex
 * digits) when missing, and reads it into tok (len >= WEB_TOKEN_LEN). Two processes racing
 * to create it end with one token. Errors: SIEVE_EIO, SIEVE_EFORMAT (not 64 hex digits, or
 * readable by group or others), SIEVE_EINVAL (short buffer).
 */
int web_token_ensure(const char *store_dir, char *tok, size_t len, struct sieve_errbuf *err);

/* Reads the token without creating it (the CLI). Errors: as web_token_ensure, SIEVE_ENOENT. */
int web_token_read(const char *store_dir, char *tok, size_t len, struct sieve_errbuf *err);

#endif
