/*
 * fuzz_decode.c - libFuzzer harness for the decode plugin's reader: an arbitrary byte string
 * is opened as media from memory (a custom AVIOContext, media_decode_buffer), both passes run
 * with frame sampling, resize, rotation, frame types and motion vectors, and the log-mel is
 * computed over whatever audio comes out. It must either succeed with buffers of the declared
 * shapes or fail with an error message; a crash, a leak or undefined behaviour is a finding.
 *
 * The options are shrunk so one input stays fast: at most 8 frames of at most 16 * 28 * 28
 * pixels, coded pictures up to 4 Mpx, one decoder thread, the first 30 s.
 *
 * Build and run (clang only):
 *     cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSIEVE_FUZZ=ON -DSIEVE_BUILD_TESTS=OFF
 *     cmake --build build-fuzz --target fuzz_decode
 *     mkdir -p /tmp/decode-corpus
 *     build-fuzz/tests/fuzz/fuzz_decode /tmp/decode-corpus tests/fuzz/corpus/decode \
 *         -max_total_time=300 -timeout=20 -max_len=16384
 * (new inputs go to the first directory; tests/fuzz/make_decode_corpus.sh rebuilds the seeds)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/decode/media.h"
#include "plugins/decode/mel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct bufs {
    struct media_video_out out;
    int64_t frame_bytes, cells, n;
};

static int
alloc(void *opaque, const struct media_info *info, struct media_video_out *out,
      struct sieve_errbuf *err)
{
    struct bufs *b = opaque;
    /* The shapes promised by media.h, within the options' bounds. */
    if (info->n_frames < 2 || info->n_frames % 2 || info->n_frames > 8 || info->width % 28 ||
        info->height % 28 || info->width * info->height > 28 * 28 * 16)
        abort();
    b->n = info->n_frames;
    b->frame_bytes = info->height * info->width * 3;
    b->cells = (info->height / 28) * (info->width / 28);
    b->out.frames = calloc((size_t)(b->n * b->frame_bytes), 1);
    b->out.pts = calloc((size_t)b->n, sizeof(double));
    b->out.types = calloc((size_t)b->n, 1);
    b->out.motion = calloc((size_t)(b->n * b->cells), sizeof(float));
    if (!b->out.frames || !b->out.pts || !b->out.types || !b->out.motion)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "out of memory");
    *out = b->out;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mel_bank *mel;
    struct media_opts o;
    struct media_info info;
    struct bufs b;
    struct media_sink sink = {.opaque = &b, .video_alloc = alloc, .tick = NULL};
    struct sieve_errbuf err;
    float *audio = NULL;
    int64_t n_audio = 0;
    int rc;

    if (!mel && mel_bank_new(16000, 80, &mel) < 0)
        abort();
    memset(&b, 0, sizeof b);
    media_opts_init(&o);
    o.max_frames = 8;
    o.min_pixels = 28 * 28;
    o.max_pixels = 28 * 28 * 16;
    o.total_pixels = 28 * 28 * 64;
    o.motion_vectors = 1;
    o.threads = 1;
    o.limit_pixels = 4096 * 1024;
    o.duration = 30;
    err.msg[0] = '\0';
    rc = media_decode_buffer("fuzz", data, size, &o, &sink, &info, &audio, &n_audio, &err);
    if (rc < 0) {
        /* A failure always explains itself and hands nothing over. */
        if (!err.msg[0] || audio || n_audio)
            abort();
    } else {
        for (int64_t k = 0; info.video_read && k < b.n; k++) {
            uint8_t t = b.out.types[k];
            if (t != 'I' && t != 'P' && t != 'B' && t != '?')
                abort();
        }
        if (n_audio > 0) {
            float *spec = malloc((size_t)(80 * mel_frame_count(n_audio) + 1) * sizeof *spec);
            if (!spec)
                abort();
            mel_compute(mel, audio, n_audio, spec);
            free(spec);
        }
    }
    free(audio);
    free(b.out.frames);
    free(b.out.pts);
    free(b.out.types);
    free(b.out.motion);
    return 0;
}
