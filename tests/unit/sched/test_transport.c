/*
 * test_transport.c - protocol frames over libuv streams: a socketpair (what a local worker
 * uses), TCP on 127.0.0.1 (what a cluster pilot would use), EOF and garbage handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/sched/transport.h"

struct peer {
    int got, closed, close_status;
    char last_task[64];
    struct transport *t;
    int echo; /* answer each heartbeat with a log message */
};

static void
on_msg(struct transport *t, const struct proto_msg *m, void *data)
{
    struct peer *p = data;
    struct sieve_errbuf err;
    p->got++;
    if (m->task_id)
        snprintf(p->last_task, sizeof p->last_task, "%s", m->task_id);
    if (p->echo && m->type == PROTO_HEARTBEAT) {
        struct proto_msg r = {.type = PROTO_LOG, .task_id = m->task_id, .text = "pong"};
        assert_int_equal(transport_send(t, &r, &err), 0);
    }
}

static void
on_close(struct transport *t, int status, const char *why, void *data)
{
    struct peer *p = data;
    (void)t;
    (void)why;
    p->closed = 1;
    p->close_status = status;
    p->t = NULL;
}

static const struct transport_callbacks cb = {on_msg, on_close};

static void
send_heartbeats(struct transport *t, int n)
{
    struct sieve_errbuf err;
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "task-%d", i);
        struct proto_msg m = {.type = PROTO_HEARTBEAT, .task_id = id, .progress = 0.5};
        assert_int_equal(transport_send(t, &m, &err), 0);
    }
}

static void
test_transport__socketpair_carries_messages_both_ways(void **state)
{
    (void)state;
    uv_loop_t loop;
    int fds[2];
    struct sieve_errbuf err;
    struct peer a = {0}, b = {.echo = 1};
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    assert_int_equal(transport_pipe_open(&loop, fds[0], &cb, &a, &a.t, &err), 0);
    assert_int_equal(transport_pipe_open(&loop, fds[1], &cb, &b, &b.t, &err), 0);
    send_heartbeats(a.t, 500);
    while (a.got < 500)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(b.got, 500);
    assert_string_equal(b.last_task, "task-499");
    assert_string_equal(a.last_task, "task-499");
    transport_close(a.t);
    while (!a.closed || !b.closed)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(b.close_status, 0); /* EOF is a clean end */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_transport__garbage_closes_with_protocol_error(void **state)
{
    (void)state;
    uv_loop_t loop;
    int fds[2];
    struct sieve_errbuf err;
    struct peer a = {0};
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    assert_int_equal(transport_pipe_open(&loop, fds[0], &cb, &a, &a.t, &err), 0);
    const char junk[] = "\xff\xff\xff\xff garbage that is no frame";
    assert_int_equal(write(fds[1], junk, sizeof junk), (ssize_t)sizeof junk);
    while (!a.closed)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(a.close_status, SIEVE_EPROTO);
    close(fds[1]);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

struct server {
    uv_tcp_t listener;
    struct peer peer;
};

static void
on_conn(uv_stream_t *l, int status)
{
    struct server *srv = l->data;
    struct sieve_errbuf err;
    assert_int_equal(status, 0);
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(l->loop, c);
    assert_int_equal(uv_accept(l, (uv_stream_t *)c), 0);
    assert_int_equal(transport_from_stream((uv_stream_t *)c, &cb, &srv->peer, &srv->peer.t, &err),
                     0);
}

static struct peer client;

static void
on_ready(struct transport *t, void *data)
{
    (void)data;
    client.t = t;
    send_heartbeats(t, 100);
}

static void
test_transport__tcp_is_a_drop_in_for_pipes(void **state)
{
    (void)state;
    uv_loop_t loop;
    struct server srv = {.peer = {.echo = 1}};
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    struct sieve_errbuf err;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_tcp_init(&loop, &srv.listener);
    srv.listener.data = &srv;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&srv.listener, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&srv.listener, 4, on_conn), 0);
    uv_tcp_getsockname(&srv.listener, (struct sockaddr *)&bound, &blen);
    int port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    memset(&client, 0, sizeof client);
    assert_int_equal(transport_tcp_connect(&loop, "127.0.0.1", port, &cb, &client, on_ready, &err),
                     0);
    while (client.got < 100)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(srv.peer.got, 100);
    transport_close(client.t);
    while (!srv.peer.closed || !client.closed)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&srv.listener, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transport__socketpair_carries_messages_both_ways),
        cmocka_unit_test(test_transport__garbage_closes_with_protocol_error),
        cmocka_unit_test(test_transport__tcp_is_a_drop_in_for_pipes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
