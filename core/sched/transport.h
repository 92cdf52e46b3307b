/*
 * transport.h - moves protocol frames (core/proto/proto.h) over a libuv stream.
 *
 * A transport wraps one connected uv_stream_t: a uv_pipe_t (the scheduler's end of a local
 * worker's socketpair) or a uv_tcp_t (a cluster pilot that connected back). Everything above
 * the stream is shared: reads feed an incremental proto decoder and each whole message is
 * handed to the `on_msg` callback; sends encode and queue a write. Whichever stream type is
 * used, the scheduler sees the same callbacks, so a TCP worker is a drop-in for a pipe one.
 *
 * Invariants: callbacks run on the loop thread. After `on_close` has been called the
 * transport is gone (freed in the stream's close callback, as libuv requires). A protocol
 * error or EOF closes the transport and reports the reason through `on_close` exactly once.
 *
 * Usage:
 *     struct transport *t;
 *     transport_pipe_open(loop, fd, &cb, me, &t, &err);   // or transport_tcp_connect
 *     transport_send(t, &msg, &err);
 *     transport_close(t);                                   // on_close follows
 */
#ifndef SIEVE_CORE_TRANSPORT_H
#define SIEVE_CORE_TRANSPORT_H

#include <stdint.h>
#include <uv.h>

#include "core/proto/proto.h"

struct transport;

struct transport_callbacks {
    /* A whole, validated message arrived; `m` is borrowed for the call. */
    void (*on_msg)(struct transport *t, const struct proto_msg *m, void *data);
    /* The stream ended: status 0 for a clean EOF or a local close, else a SIEVE_E* code with
     * `why` saying what happened. The transport is freed right after this returns. */
    void (*on_close)(struct transport *t, int status, const char *why, void *data);
};

/*
 * Wraps an already-initialised, connected stream (pipe or TCP). The transport takes the
 * handle over (it must have been allocated with malloc; it is freed on close) and starts
 * reading. Errors: SIEVE_EIO when reading cannot start. Ownership: the stream and the
 * transport belong to the loop until on_close.
 */
int transport_from_stream(uv_stream_t *stream, const struct transport_callbacks *cb, void *data,
                          struct transport **out, struct sieve_errbuf *err);

/* Opens a transport on an existing duplex fd (a socketpair end or an inherited fd). */
int transport_pipe_open(uv_loop_t *loop, int fd, const struct transport_callbacks *cb, void *data,
                        struct transport **out, struct sieve_errbuf *err);

/*
 * Starts a TCP connection to ip:port (numeric IPv4); `on_ready` is called with the transport
 * once connected, or on_close with the error. Returns 0 when the attempt started.
 */
int transport_tcp_connect(uv_loop_t *loop, const char *ip, int port,
                          const struct transport_callbacks *cb, void *data,
                          void (*on_ready)(struct transport *t, void *data),
                          struct sieve_errbuf *err);

/* Hands the transport's callbacks to a new owner (a pilot's connection passes from the
 * listener, which checked its hello, to the slot it becomes). Call from a callback or between
 * loop iterations; the next message goes to the new owner. */
void transport_rebind(struct transport *t, const struct transport_callbacks *cb, void *data);

/* The peer's address as "ip:port" (a TCP transport), or "" . */
void transport_peer(const struct transport *t, char *buf, size_t cap);

/* Encodes and queues one message. Errors: SIEVE_EINVAL (encoding), SIEVE_EIO (closed stream). */
int transport_send(struct transport *t, const struct proto_msg *m, struct sieve_errbuf *err);

/* Stops reading and closes; on_close(t, 0, "closed") follows on the loop. Idempotent. */
void transport_close(struct transport *t);

#endif
