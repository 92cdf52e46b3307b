/*
 * transport.c - protocol frames over a libuv stream (pipe or TCP); see transport.h.
 */
#include "core/sched/transport.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

struct transport {
    uv_stream_t *stream;
    struct transport_callbacks cb;
    void *data;
    struct proto_decoder dec;
    int closing;
    int close_status;
    char close_why[SIEVE_ERRBUF_SIZE];
    void (*on_ready)(struct transport *t, void *data);
    uv_connect_t connect;
};

struct write_req {
    uv_write_t req;
    uint8_t *buf;
};

static void
on_closed(uv_handle_t *h)
{
    struct transport *t = h->data;
    if (t->cb.on_close)
        t->cb.on_close(t, t->close_status, t->close_why, t->data);
    proto_decoder_release(&t->dec);
    free(h);
    free(t);
}

static void
close_with(struct transport *t, int status, const char *why)
{
    if (t->closing)
        return;
    t->closing = 1;
    t->close_status = status;
    snprintf(t->close_why, sizeof t->close_why, "%s", why);
    uv_read_stop(t->stream);
    uv_close((uv_handle_t *)t->stream, on_closed);
}

void
transport_close(struct transport *t)
{
    if (t)
        close_with(t, 0, "closed");
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    /* Reading into a stack-sized chunk and copying into the decoder keeps ownership simple;
     * the copy is cheap next to JSON parsing. */
    static char chunk[64 * 1024];
    *buf = uv_buf_init(chunk, sizeof chunk);
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct transport *t = s->data;
    struct sieve_errbuf err = {{0}};
    if (n == UV_EOF) {
        close_with(t, 0, "end of stream");
        return;
    }
    if (n < 0) {
        char why[256];
        snprintf(why, sizeof why, "read: %s", uv_strerror((int)n));
        close_with(t, SIEVE_EIO, why);
        return;
    }
    if (n == 0 || t->closing)
        return;
    if (proto_decoder_feed(&t->dec, buf->base, (size_t)n, &err) < 0) {
        close_with(t, SIEVE_EPROTO, err.msg);
        return;
    }
    for (;;) {
        struct proto_msg m;
        int rc = proto_decoder_next(&t->dec, &m, &err);
        if (rc == 0)
            break;
        if (rc < 0) {
            close_with(t, rc, err.msg);
            return;
        }
        if (t->cb.on_msg)
            t->cb.on_msg(t, &m, t->data);
        proto_msg_release(&m);
        if (t->closing)
            return;
    }
}

int
transport_from_stream(uv_stream_t *stream, const struct transport_callbacks *cb, void *data,
                      struct transport **out, struct sieve_errbuf *err)
{
    struct transport *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "transport: out of memory");
    t->stream = stream;
    t->cb = *cb;
    t->data = data;
    proto_decoder_init(&t->dec);
    stream->data = t;
    int rc = uv_read_start(stream, on_alloc, on_read);
    if (rc < 0) {
        proto_decoder_release(&t->dec);
        free(t);
        return sieve_errbuf_set(err, SIEVE_EIO, "transport: start reading: %s", uv_strerror(rc));
    }
    *out = t;
    return 0;
}

int
transport_pipe_open(uv_loop_t *loop, int fd, const struct transport_callbacks *cb, void *data,
                    struct transport **out, struct sieve_errbuf *err)
{
    uv_pipe_t *p = malloc(sizeof *p);
    *out = NULL;
    if (!p)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "transport: out of memory");
    int rc = uv_pipe_init(loop, p, 0);
    if (rc == 0)
        rc = uv_pipe_open(p, fd);
    if (rc < 0) {
        free(p);
        return sieve_errbuf_set(err, SIEVE_EIO, "transport: open fd %d: %s", fd, uv_strerror(rc));
    }
    rc = transport_from_stream((uv_stream_t *)p, cb, data, out, err);
    if (rc < 0) {
        p->data = p;
        uv_close((uv_handle_t *)p, (uv_close_cb)free);
    }
    return rc;
}

static void
on_connected(uv_connect_t *req, int status)
{
    struct transport *t = req->data;
    if (status < 0) {
        char why[256];
        snprintf(why, sizeof why, "connect: %s", uv_strerror(status));
        close_with(t, SIEVE_EIO, why);
        return;
    }
    int rc = uv_read_start(t->stream, on_alloc, on_read);
    if (rc < 0) {
        close_with(t, SIEVE_EIO, uv_strerror(rc));
        return;
    }
    if (t->on_ready)
        t->on_ready(t, t->data);
}

int
transport_tcp_connect(uv_loop_t *loop, const char *ip, int port,
                      const struct transport_callbacks *cb, void *data,
                      void (*on_ready)(struct transport *t, void *data), struct sieve_errbuf *err)
{
    struct sockaddr_in addr;
    int rc = uv_ip4_addr(ip, port, &addr);
    if (rc < 0)
        return sieve_errbuf_set(err, SIEVE_EINVAL, "transport: address '%s:%d': %s", ip, port,
                                uv_strerror(rc));
    uv_tcp_t *tcp = malloc(sizeof *tcp);
    struct transport *t = calloc(1, sizeof *t);
    if (!tcp || !t) {
        free(tcp);
        free(t);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "transport: out of memory");
    }
    uv_tcp_init(loop, tcp);
    t->stream = (uv_stream_t *)tcp;
    t->cb = *cb;
    t->data = data;
    t->on_ready = on_ready;
    proto_decoder_init(&t->dec);
    tcp->data = t;
    t->connect.data = t;
    rc = uv_tcp_connect(&t->connect, tcp, (const struct sockaddr *)&addr, on_connected);
    if (rc < 0) {
        t->cb.on_close = NULL;
        close_with(t, SIEVE_EIO, "connect");
        return sieve_errbuf_set(err, SIEVE_EIO, "transport: connect '%s:%d': %s", ip, port,
                                uv_strerror(rc));
    }
    return 0;
}

void
transport_rebind(struct transport *t, const struct transport_callbacks *cb, void *data)
{
    t->cb = *cb;
    t->data = data;
}

void
transport_peer(const struct transport *t, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    buf[0] = '\0';
    if (t->stream->type != UV_TCP ||
        uv_tcp_getpeername((const uv_tcp_t *)t->stream, (struct sockaddr *)&ss, &len) < 0)
        return;
    char ip[64] = "";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
    }
    snprintf(buf, cap, "%s:%d", ip, port);
}

static void
on_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct transport *t = req->handle->data;
    free(w->buf);
    free(w);
    if (status < 0 && status != UV_ECANCELED && t && !t->closing) {
        char why[256];
        snprintf(why, sizeof why, "write: %s", uv_strerror(status));
        close_with(t, SIEVE_EIO, why);
    }
}

int
transport_send(struct transport *t, const struct proto_msg *m, struct sieve_errbuf *err)
{
    if (t->closing)
        return sieve_errbuf_set(err, SIEVE_EIO, "send %s: transport closed",
                                proto_type_name(m->type));
    uint8_t *buf;
    size_t len;
    int rc = proto_encode(m, &buf, &len, err);
    if (rc < 0)
        return rc;
    struct write_req *w = malloc(sizeof *w);
    if (!w) {
        free(buf);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "send: out of memory");
    }
    w->buf = buf;
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    rc = uv_write(&w->req, t->stream, &b, 1, on_written);
    if (rc < 0) {
        free(buf);
        free(w);
        return sieve_errbuf_set(err, SIEVE_EIO, "send %s: %s", proto_type_name(m->type),
                                uv_strerror(rc));
    }
    return 0;
}
