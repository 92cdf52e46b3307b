/*
 * sched_remote.c - pilots: the TCP listener of the scheduler, the check of a pilot's first
 * message (a hello with the run's token), and pilot slots taken and lost. See sched.h.
 *
 * A connection starts "pending": its messages go to this file until a hello with the right
 * token arrives, or it is dropped after PENDING_MS. The hello takes a free pilot slot, and the
 * transport is rebound to the slot's callbacks (sched_worker.c): from then on a pilot is a
 * worker like the local ones, except that closing its connection is what kills it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "core/proto/proto.h"
#include "core/sched/transport.h"
#include "sched_int.h"

/* A connection must say hello with the token within this long, or it is closed. */
#define PENDING_MS 10000
#define PENDING_MAX 256

struct pending {
    struct sched *s;
    struct transport *tr;
    int64_t since_ms;
};

struct sched_remote {
    uv_tcp_t server;
    int open;
    char token[256];
    struct pending *pending[PENDING_MAX];
};

/* Compares tokens in time independent of where they differ. */
static int
token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0 && la > 0;
}

static void
pending_forget(struct sched *s, struct pending *p)
{
    for (size_t i = 0; s->remote && i < PENDING_MAX; i++)
        if (s->remote->pending[i] == p)
            s->remote->pending[i] = NULL;
}

static struct slot *
free_slot(struct sched *s)
{
    for (size_t i = 0; i < s->n_slots; i++) {
        struct slot *sl = &s->slots[i];
        if (sl->remote && !sl->tr && sl->state == SLOT_DOWN)
            return sl;
    }
    return NULL;
}

static void
attach(struct sched *s, struct pending *p, const struct proto_msg *m)
{
    struct slot *sl = free_slot(s);
    char peer[80];
    transport_peer(p->tr, peer, sizeof peer);
    if (!sl || s->finished || s->draining) {
        /* More pilots than slots (a replacement raced a slow one), or the scheduler stops. */
        struct proto_msg bye = {.type = PROTO_SHUTDOWN};
        struct sieve_errbuf err;
        transport_send(p->tr, &bye, &err);
        transport_close(p->tr);
        return;
    }
    struct device *d = sl->dev;
    int64_t now = clock_mono_ms();
    pending_forget(s, p);
    transport_rebind(p->tr, &sched_slot_callbacks, sl);
    sl->tr = p->tr;
    free(p);
    sl->hello = 1;
    sl->leaving = 0;
    sl->kill_code = 0;
    sl->pid = 0;
    sl->spawned_ms = sl->last_beat_ms = now;
    sl->state = SLOT_STARTING; /* takes tasks after the pilot's ready */
    /* A new pilot is a new device: the last one's faults are not held against it. */
    d->state = DEVICE_HEALTHY;
    d->n_faults = 0;
    d->reason[0] = '\0';
    snprintf(d->node, sizeof d->node, "%s", m->node ? m->node : "");
    snprintf(d->job, sizeof d->job, "%s", m->job ? m->job : "");
    snprintf(d->model, sizeof d->model, "%s on %s, job %s (%s)", m->device,
             m->node && m->node[0] ? m->node : "?", m->job && m->job[0] ? m->job : "-", peer);
    sched_device_changed(s, d, NULL);
    sched_log(s, "pilot %s: %s", d->name, d->model);
}

static void
pending_msg(struct transport *t, const struct proto_msg *m, void *data)
{
    struct pending *p = data;
    struct sched *s = p->s;
    if (m->type != PROTO_HELLO || !m->token || !token_equal(m->token, s->remote->token)) {
        char peer[80];
        transport_peer(t, peer, sizeof peer);
        sched_log(s, "pilot connection from %s refused: %s", peer,
                  m->type != PROTO_HELLO ? "it did not say hello first" : "wrong token");
        transport_close(t);
        return;
    }
    attach(s, p, m);
}

static void
pending_close(struct transport *t, int status, const char *why, void *data)
{
    struct pending *p = data;
    (void)t;
    (void)status;
    (void)why;
    /* Only a connection that never became a slot's closes here: attach rebinds. */
    pending_forget(p->s, p);
    free(p);
}

static void
on_connection(uv_stream_t *server, int status)
{
    static const struct transport_callbacks cb = {pending_msg, pending_close};
    struct sched *s = server->data;
    if (status < 0 || !s->remote || !s->remote->open)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    struct pending *p = calloc(1, sizeof *p);
    if (!c || !p) {
        free(c);
        free(p);
        return;
    }
    uv_tcp_init(&s->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) < 0) {
        uv_close((uv_handle_t *)c, (uv_close_cb)free);
        free(p);
        return;
    }
    uv_tcp_nodelay(c, 1);
    /* Keepalive: a pilot whose node died without a FIN is also caught by the heartbeat
     * check, but only while it runs a task; an idle one is found by keepalive. */
    uv_tcp_keepalive(c, 1, 10);
    size_t slot = PENDING_MAX;
    for (size_t i = 0; i < PENDING_MAX; i++)
        if (!s->remote->pending[i]) {
            slot = i;
            break;
        }
    struct sieve_errbuf err;
    p->s = s;
    p->since_ms = clock_mono_ms();
    if (slot == PENDING_MAX || transport_from_stream((uv_stream_t *)c, &cb, p, &p->tr, &err) < 0) {
        uv_close((uv_handle_t *)c, (uv_close_cb)free);
        free(p);
        return;
    }
    s->remote->pending[slot] = p;
}

int
sched_listen(struct sched *s, const char *host, int port, const char *token,
             struct sieve_errbuf *err)
{
    struct sockaddr_storage addr;
    int rc;
    if (s->remote)
        return sieve_errbuf_set(err, SIEVE_EEXIST, "listening for pilots already");
    if (!token || !token[0] || strlen(token) >= sizeof s->remote->token)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "pilot token: empty or too long");
    if (strchr(host, ':'))
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    else
        rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc < 0)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "listen address '%s': %s", host,
                                uv_strerror(rc));
    struct sched_remote *r = calloc(1, sizeof *r);
    if (!r)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    snprintf(r->token, sizeof r->token, "%s", token);
    uv_tcp_init(&s->loop, &r->server);
    r->server.data = s;
    r->open = 1;
    s->remote = r;
    if ((rc = uv_tcp_bind(&r->server, (const struct sockaddr *)&addr, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&r->server, 128, on_connection)) < 0) {
        sched_remote_close(s);
        return sieve_errbuf_set(err, SIEVE_EIO, "listen on '%s:%d': %s", host, port,
                                uv_strerror(rc));
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&r->server, (struct sockaddr *)&bound, &len);
    return ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                             : ((struct sockaddr_in *)&bound)->sin_port);
}

static void
server_closed(uv_handle_t *h)
{
    free(h->data);
}

void
sched_remote_close(struct sched *s)
{
    struct sched_remote *r = s->remote;
    if (!r || !r->open)
        return;
    r->open = 0;
    for (size_t i = 0; i < PENDING_MAX; i++)
        if (r->pending[i])
            transport_close(r->pending[i]->tr);
    /* The struct lives until the close callback; slots still closing no longer look at it. */
    s->remote = NULL;
    r->server.data = r;
    uv_close((uv_handle_t *)&r->server, server_closed);
}

void
sched_remote_check(struct sched *s, int64_t now)
{
    if (!s->remote)
        return;
    for (size_t i = 0; i < PENDING_MAX; i++) {
        struct pending *p = s->remote->pending[i];
        if (p && now - p->since_ms > PENDING_MS)
            transport_close(p->tr);
    }
}

void
sched_remote_lost(struct slot *sl, int status, const char *why)
{
    struct sched *s = sl->s;
    char msg[240];
    int code = sl->kill_code ? sl->kill_code : SIEVE_ECRASH;
    int was_stopping = sl->state == SLOT_STOPPING;
    if (sl->kill_code)
        snprintf(msg, sizeof msg, "%s", sl->kill_why);
    else
        snprintf(msg, sizeof msg, "lost the pilot on '%s' (%s): %s", sl->dev->name, sl->dev->model,
                 status == 0 ? "it hung up" : why);
    if (sl->leaving && !sl->kill_code && sl->task != UINT32_MAX && sl->next == UINT32_MAX &&
        !sched_task_other_copy(s, sl->task, sl)) {
        /* A draining pilot left before its task ended (its time limit came first): not the
         * task's fault. It goes back as a task that never started would, no attempt used. */
        uint32_t t = sl->task;
        sl->task = UINT32_MAX;
        s->n_running--;
        s->t[t].copies--;
        sl->next = t;
        s->n_prefetched++;
    }
    int had_task = sl->task != UINT32_MAX;
    sched_slot_lose_task(sl, code, msg);
    if (sl->leaving && !s->finished)
        sched_log(s, "pilot %s (%s) left: drained", sl->dev->name, sl->dev->model);
    sl->state = SLOT_DOWN;
    sl->kill_code = 0;
    sl->hello = 0;
    sl->leaving = 0;
    if (!was_stopping && !s->finished && had_task)
        sched_log(s, "%s", msg);
    snprintf(sl->dev->model, sizeof sl->dev->model, "waiting for a pilot");
    sl->dev->node[0] = sl->dev->job[0] = '\0';
    if (!s->finished)
        sched_device_changed(s, sl->dev, NULL);
    sched_kick(s);
}

void
sched_pilots_count(const struct sched *s, struct sched_pilots *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < s->n_slots; i++) {
        const struct slot *sl = &s->slots[i];
        if (!sl->remote)
            continue;
        out->slots++;
        out->attached += sl->tr != NULL;
        out->busy += sl->state == SLOT_BUSY;
    }
    out->work_left = s->n_left;
    out->stopping = s->finished || s->draining;
}
