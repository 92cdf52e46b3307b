/*
 * test_proto.c - worker protocol frames: round trips of every message type, decoding across
 * arbitrary chunk boundaries, and strict rejection of malformed frames (never a crash).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/proto/proto.h"

static struct proto_msg
sample_run_task(void)
{
    static struct proto_path ins[] = {{"tokens", "/s/objects/ab/ab12.safetensors"}, {"audio", ""}};
    static struct proto_path outs[] = {{"out", "/s/objects/cd/cd34.safetensors"}};
    static struct proto_sample smp[] = {{"clip01", "/data/clip01.mp4", "Daily Life", "{\"a\":1}"}};
    struct proto_msg m = {
        .type = PROTO_RUN_TASK,
        .task_id = "pv/clip01/v2",
        .plugin = "prune-visual",
        .params = "{\"keep\":0.5,\"method\":\"dycoke\"}",
        .inputs = ins,
        .n_inputs = 2,
        .outputs = outs,
        .n_outputs = 1,
        .samples = smp,
        .n_samples = 1,
        .timeout_ms = 600000,
        .log_path = "/s/logs/1/7.log",
        .fault = "",
    };
    return m;
}

static uint8_t *
encode(const struct proto_msg *m, size_t *len)
{
    uint8_t *buf;
    struct sieve_errbuf err;
    assert_int_equal(proto_encode(m, &buf, len, &err), 0);
    return buf;
}

static void
test_proto__run_task_round_trips(void **state)
{
    (void)state;
    struct proto_msg m = sample_run_task(), d;
    size_t len;
    uint8_t *buf = encode(&m, &len);
    struct proto_decoder dec;
    struct sieve_errbuf err;
    proto_decoder_init(&dec);
    assert_int_equal(proto_decoder_feed(&dec, buf, len, &err), 0);
    assert_int_equal(proto_decoder_next(&dec, &d, &err), 1);
    assert_int_equal(d.type, PROTO_RUN_TASK);
    assert_string_equal(d.task_id, "pv/clip01/v2");
    assert_string_equal(d.plugin, "prune-visual");
    assert_string_equal(d.params, "{\"keep\":0.5,\"method\":\"dycoke\"}");
    assert_int_equal(d.n_inputs, 2);
    assert_string_equal(d.inputs[0].port, "tokens");
    assert_string_equal(d.inputs[1].path, "");
    assert_int_equal(d.n_outputs, 1);
    assert_string_equal(d.outputs[0].path, "/s/objects/cd/cd34.safetensors");
    assert_int_equal(d.n_samples, 1);
    assert_string_equal(d.samples[0].category, "Daily Life");
    assert_string_equal(d.samples[0].fields, "{\"a\":1}");
    assert_int_equal(d.timeout_ms, 600000);
    assert_string_equal(d.log_path, "/s/logs/1/7.log");
    struct proto_msg none;
    assert_int_equal(proto_decoder_next(&dec, &none, &err), 0);
    proto_msg_release(&d);
    proto_decoder_release(&dec);
    free(buf);
}

static void
test_proto__result_heartbeat_log_hello_shutdown_round_trip(void **state)
{
    (void)state;
    struct proto_artifact arts[] = {{"out",
                                     "ab"
                                     "cd",
                                     1234}};
    struct proto_msg msgs[] = {
        {.type = PROTO_HELLO, .worker_id = "w3", .pid = 4242, .device = "fake:1"},
        {.type = PROTO_HEARTBEAT, .task_id = "t", .progress = 0.25, .activity = 17},
        {.type = PROTO_LOG, .task_id = "t", .level = SIEVE_LOG_WARN, .text = "low memory"},
        {.type = PROTO_RESULT,
         .task_id = "t",
         .status = SIEVE_EDEVICE,
         .error_class = "device",
         .message = "unable to determine the device handle for GPU 2",
         .bytes_written = 77,
         .init_ms = 1,
         .run_ms = 2,
         .write_ms = 3,
         .artifacts = arts,
         .n_artifacts = 1,
         .metrics = "[]"},
        {.type = PROTO_SHUTDOWN},
        {.type = PROTO_READY, .n_plugins = 9},
        {.type = PROTO_DRAIN},
    };
    size_t n = sizeof msgs / sizeof msgs[0];
    struct proto_decoder dec;
    struct sieve_errbuf err;
    proto_decoder_init(&dec);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        uint8_t *buf = encode(&msgs[i], &len);
        assert_int_equal(proto_decoder_feed(&dec, buf, len, &err), 0);
        free(buf);
    }
    struct proto_msg d;
    assert_int_equal(proto_decoder_next(&dec, &d, &err), 1);
    assert_string_equal(d.worker_id, "w3");
    assert_int_equal(d.pid, 4242);
    assert_string_equal(d.device, "fake:1");
    proto_msg_release(&d);
    assert_int_equal(proto_decoder_next(&dec, &d, &err), 1);
    assert_true(d.progress == 0.25);
    assert_int_equal(d.activity, 17);
    proto_msg_release(&d);
    assert_int_equal(proto_decoder_next(&dec, &d, &err), 1);
    assert_int_equal(d.level, SIEVE_LOG_WARN);
    assert_string_equal(d.text, "low memory");
    proto_msg_release(&d);
    assert_int_equal(proto_decoder_next(&dec, &d, &err), 1);
    assert_int_equal(d.status, SIEVE_EDEVICE);
    assert_string_equal(d.message, "unable to determine the device handle for GPU 2");
    assert_int_equal(d.n_artifacts, 1);
    assert_string_equal(d.artifacts[0].sha256, "abcd");
    assert_int_equal(d.artifacts[0].bytes, 1234);
    assert_int_equal(d.write_ms, 3);
    proto_msg_release(&d);
    assert_int_equal(proto_decoder_next(&dec, &d, &err), 1);
    assert_int_equal(d.type, PROTO_SHUTDOWN);
    proto_msg_release(&d);
    assert_int_equal(proto_decoder_next(&dec, &d, &err), 1);
    assert_int_equal(d.type, PROTO_READY);
    assert_int_equal(d.n_plugins, 9);
    proto_msg_release(&d);
    assert_int_equal(proto_decoder_next(&dec, &d, &err), 1);
    assert_int_equal(d.type, PROTO_DRAIN);
    assert_string_equal(proto_type_name(d.type), "drain");
    proto_msg_release(&d);
    assert_int_equal(proto_decoder_next(&dec, &d, &err), 0);
    proto_decoder_release(&dec);
}

/* Feeds a stream of frames in random chunk sizes (1 byte up) and expects every message. */
static void
test_proto__decodes_across_random_chunk_boundaries(void **state)
{
    (void)state;
    struct proto_msg m = sample_run_task();
    size_t len;
    uint8_t *one = encode(&m, &len);
    const size_t copies = 50;
    uint8_t *stream = malloc(len * copies);
    for (size_t i = 0; i < copies; i++)
        memcpy(stream + i * len, one, len);
    srand(7);
    for (int round = 0; round < 20; round++) {
        struct proto_decoder dec;
        struct sieve_errbuf err;
        size_t got = 0, off = 0;
        proto_decoder_init(&dec);
        while (off < len * copies) {
            size_t chunk = 1 + (size_t)rand() % (round < 5 ? 3 : 700);
            if (chunk > len * copies - off)
                chunk = len * copies - off;
            assert_int_equal(proto_decoder_feed(&dec, stream + off, chunk, &err), 0);
            off += chunk;
            struct proto_msg d;
            int rc;
            while ((rc = proto_decoder_next(&dec, &d, &err)) == 1) {
                assert_string_equal(d.task_id, "pv/clip01/v2");
                got++;
                proto_msg_release(&d);
            }
            assert_int_equal(rc, 0);
        }
        assert_int_equal(got, copies);
        proto_decoder_release(&dec);
    }
    free(stream);
    free(one);
}

static int
decode_raw(const void *bytes, size_t n)
{
    struct proto_decoder dec;
    struct sieve_errbuf err;
    struct proto_msg d;
    proto_decoder_init(&dec);
    proto_decoder_feed(&dec, bytes, n, &err);
    int rc = proto_decoder_next(&dec, &d, &err);
    if (rc == 1)
        proto_msg_release(&d);
    if (rc < 0) {
        /* A failed decoder stays failed: the stream is out of sync. */
        assert_int_equal(proto_decoder_next(&dec, &d, &err), SIEVE_EPROTO);
        assert_int_equal(proto_decoder_feed(&dec, "x", 1, &err), SIEVE_EPROTO);
    }
    proto_decoder_release(&dec);
    return rc;
}

static void
frame(uint8_t *buf, size_t *len, int type, const char *json)
{
    size_t n = strlen(json);
    uint32_t flen = (uint32_t)(n + 1);
    memcpy(buf, &flen, 4); /* the test machine is little-endian like the format */
    buf[4] = (uint8_t)type;
    memcpy(buf + 5, json, n);
    *len = n + 5;
}

/* A pilot's hello carries its token, node and job; a local worker's has none (NULL). */
static void
test_proto__pilot_hello_carries_token_node_job(void **state)
{
    (void)state;
    struct proto_msg pilot = {.type = PROTO_HELLO,
                              .worker_id = "w0.1",
                              .pid = 7,
                              .device = "cuda:1",
                              .token = "9f3a",
                              .node = "gpu-node-03",
                              .job = "4242_7"};
    struct proto_msg local = {.type = PROTO_HELLO, .worker_id = "w0", .pid = 8, .device = "cpu"};
    struct proto_decoder dec;
    struct sieve_errbuf err;
    struct proto_msg d;
    size_t len;
    proto_decoder_init(&dec);
    uint8_t *buf = encode(&pilot, &len);
    assert_int_equal(proto_decoder_feed(&dec, buf, len, &err), 0);
    free(buf);
    buf = encode(&local, &len);
    assert_int_equal(proto_decoder_feed(&dec, buf, len, &err), 0);
    free(buf);
    assert_int_equal(proto_decoder_next(&dec, &d, &err), 1);
    assert_string_equal(d.token, "9f3a");
    assert_string_equal(d.node, "gpu-node-03");
    assert_string_equal(d.job, "4242_7");
    assert_string_equal(d.device, "cuda:1");
    proto_msg_release(&d);
    assert_int_equal(proto_decoder_next(&dec, &d, &err), 1);
    assert_null(d.token);
    assert_null(d.node);
    assert_null(d.job);
    proto_msg_release(&d);
    proto_decoder_release(&dec);
    uint8_t raw[256];
    frame(raw, &len, PROTO_HELLO, "{\"worker_id\":\"w\",\"pid\":1,\"device\":\"d\",\"token\":5}");
    assert_int_equal(decode_raw(raw, len), SIEVE_EPROTO); /* a token must be a string */
}

static void
test_proto__rejects_malformed_frames(void **state)
{
    (void)state;
    uint8_t buf[1024];
    size_t len;
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0x7f, PROTO_HELLO};
    const uint8_t zero[] = {0, 0, 0, 0, PROTO_HELLO};
    assert_int_equal(decode_raw(huge, sizeof huge), SIEVE_EPROTO);
    assert_int_equal(decode_raw(zero, sizeof zero), SIEVE_EPROTO);
    frame(buf, &len, 99, "{}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO);
    frame(buf, &len, 0, "{}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO);
    frame(buf, &len, PROTO_HELLO, "not json");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO);
    frame(buf, &len, PROTO_HELLO, "[1,2]");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO);
    frame(buf, &len, PROTO_HELLO, "{\"worker_id\":\"w\",\"pid\":1}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO); /* device missing */
    frame(buf, &len, PROTO_HELLO, "{\"worker_id\":5,\"pid\":1,\"device\":\"d\"}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO);
    frame(buf, &len, PROTO_HELLO, "{\"worker_id\":\"w\",\"pid\":-4,\"device\":\"d\"}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO);
    frame(buf, &len, PROTO_HEARTBEAT, "{\"task_id\":\"t\",\"progress\":1.5,\"activity\":0}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO);
    frame(buf, &len, PROTO_HEARTBEAT, "{\"task_id\":\"t\",\"progress\":0.5}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO); /* activity missing */
    frame(buf, &len, PROTO_READY, "{\"plugins\":-1}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO);
    frame(buf, &len, PROTO_LOG, "{\"task_id\":\"t\",\"level\":9,\"text\":\"x\"}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO);
    frame(buf, &len, PROTO_RUN_TASK,
          "{\"task_id\":\"t\",\"plugin\":\"p\",\"params\":[],\"inputs\":[],\"outputs\":[],"
          "\"samples\":[],\"timeout_ms\":0,\"log_path\":\"\",\"fault\":\"\"}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO); /* params not an object */
    frame(buf, &len, PROTO_RUN_TASK,
          "{\"task_id\":\"t\",\"plugin\":\"p\",\"params\":{},\"inputs\":[{\"port\":1}],"
          "\"outputs\":[],\"samples\":[],\"timeout_ms\":0,\"log_path\":\"\",\"fault\":\"\"}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO);
    frame(buf, &len, PROTO_RUN_TASK,
          "{\"task_id\":\"t\",\"plugin\":\"p\",\"params\":{},\"inputs\":[],"
          "\"outputs\":[],\"samples\":[],\"timeout_ms\":0,\"log_path\":\"\",\"fault\":\"\"}");
    assert_int_equal(decode_raw(buf, len), 1); /* the same frame, well-formed, decodes */
    frame(buf, &len, PROTO_HELLO, "{\"worker_id\":\"a\\u0000b\",\"pid\":1,\"device\":\"d\"}");
    assert_int_equal(decode_raw(buf, len), SIEVE_EPROTO);
    /* A truncated frame is simply incomplete, not an error. */
    frame(buf, &len, PROTO_SHUTDOWN, "{}");
    assert_int_equal(decode_raw(buf, len - 1), 0);
}

/* Random mutations of valid frames: each decodes or fails cleanly, never crashes. */
static void
test_proto__survives_mutated_frames(void **state)
{
    (void)state;
    struct proto_msg m = sample_run_task();
    size_t len;
    uint8_t *one = encode(&m, &len);
    uint8_t *mut = malloc(len);
    int ok = 0, bad = 0;
    srand(11);
    for (int i = 0; i < 3000; i++) {
        memcpy(mut, one, len);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++)
            mut[(size_t)rand() % len] = (uint8_t)rand();
        int rc = decode_raw(mut, len);
        assert_true(rc == 1 || rc == 0 || rc == SIEVE_EPROTO);
        if (rc == 1)
            ok++;
        else
            bad++;
    }
    assert_true(bad > 0);
    free(mut);
    free(one);
    (void)ok;
}

static void
test_proto__encode_rejects_bad_params(void **state)
{
    (void)state;
    struct proto_msg m = sample_run_task();
    uint8_t *buf;
    size_t len;
    struct sieve_errbuf err;
    m.params = "[1]";
    assert_int_equal(proto_encode(&m, &buf, &len, &err), SIEVE_EINVAL);
    assert_null(buf);
    m.type = 42;
    assert_int_equal(proto_encode(&m, &buf, &len, &err), SIEVE_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proto__run_task_round_trips),
        cmocka_unit_test(test_proto__result_heartbeat_log_hello_shutdown_round_trip),
        cmocka_unit_test(test_proto__decodes_across_random_chunk_boundaries),
        cmocka_unit_test(test_proto__pilot_hello_carries_token_node_job),
        cmocka_unit_test(test_proto__rejects_malformed_frames),
        cmocka_unit_test(test_proto__survives_mutated_frames),
        cmocka_unit_test(test_proto__encode_rejects_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
