/*
 * audio.c - decodes an audio stream and resamples it to mono float at the requested rate.
 *
 * Mono is the mean of the channels (librosa's to_mono), set as an explicit swresample matrix:
 * swresample's own stereo-to-mono matrix is 0.707 * (L + R) for float output, 3 dB louder than
 * the reference, and the log-mel would shift with it. Resampling uses the SoX resampler at
 * 20-bit precision when FFmpeg has it (librosa's default "soxr_hq" is the same filter), and
 * swresample's own filter otherwise.
 */
#include "media_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/opt.h>
#include <libswresample/swresample.h>

struct audio_reader {
    AVCodecContext *dec;
    SwrContext *swr;
    AVFrame *frame;
    const char *name;
    int rate;
    double tb;
    double first_time; /* stream seconds of the first decoded sample; NAN until known */
    /* The input format the resampler was built for. */
    AVChannelLayout in_layout;
    int in_rate, in_format;
    float *buf;
    int64_t n, cap;
    double expected; /* output samples the input amounts to; the resampler's tail is cut to it */
};

int
audio_reader_open(const AVStream *st, const struct media_opts *o, const char *name,
                  struct audio_reader **out, struct sieve_errbuf *err)
{
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    struct audio_reader *ar;
    int rc;

    *out = NULL;
    if (!codec)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "open '%s': no decoder for audio codec '%s'",
                                name, avcodec_get_name(st->codecpar->codec_id));
    ar = calloc(1, sizeof *ar);
    if (!ar)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "open '%s': out of memory", name);
    ar->name = name;
    ar->rate = o->audio_rate;
    ar->tb = av_q2d(st->time_base);
    ar->first_time = NAN;
    ar->in_format = -1;
    ar->dec = avcodec_alloc_context3(codec);
    ar->frame = av_frame_alloc();
    if (!ar->dec || !ar->frame) {
        audio_reader_free(ar);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "open '%s': out of memory", name);
    }
    rc = avcodec_parameters_to_context(ar->dec, st->codecpar);
    if (rc >= 0) {
        ar->dec->pkt_timebase = st->time_base;
        rc = avcodec_open2(ar->dec, codec, NULL);
    }
    if (rc < 0) {
        audio_reader_free(ar);
        return media_averror(err, rc, name, "open audio decoder '%s' for", codec->name);
    }
    *out = ar;
    return 0;
}

static int
reserve(struct audio_reader *ar, int64_t more)
{
    int64_t need = ar->n + more;
    if (need > ar->cap) {
        int64_t cap = ar->cap ? ar->cap : 65536;
        float *b;
        while (cap < need)
            cap *= 2;
        b = realloc(ar->buf, (size_t)cap * sizeof *b);
        if (!b)
            return SIEVE_ENOMEM;
        ar->buf = b;
        ar->cap = cap;
    }
    return 0;
}

/* Runs the resampler on `in` (NULL flushes it) and appends its output. */
static int
convert(struct audio_reader *ar, const AVFrame *in, struct sieve_errbuf *err)
{
    int n_in = in ? in->nb_samples : 0;
    int max = swr_get_out_samples(ar->swr, n_in);
    uint8_t *dst;
    int got;

    if (max < 0)
        return media_averror(err, max, ar->name, "resample audio of");
    if (reserve(ar, (int64_t)max + 1) < 0)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "resample audio of '%s': out of memory",
                                ar->name);
    dst = (uint8_t *)(ar->buf + ar->n);
    got =
        swr_convert(ar->swr, &dst, max + 1, in ? (const uint8_t **)in->extended_data : NULL, n_in);
    if (got < 0)
        return media_averror(err, got, ar->name, "resample audio of");
    ar->n += got;
    return 0;
}

/* (Re)builds the resampler for the format of `f`, flushing the previous one first. */
static int
setup_resampler(struct audio_reader *ar, const AVFrame *f, struct sieve_errbuf *err)
{
    AVChannelLayout in_layout = {0}, mono = AV_CHANNEL_LAYOUT_MONO;
    double *matrix;
    int rc, nch;

    if (ar->swr && f->sample_rate == ar->in_rate && f->format == ar->in_format &&
        av_channel_layout_compare(&f->ch_layout, &ar->in_layout) == 0)
        return 0;
    if (ar->swr) {
        rc = convert(ar, NULL, err);
        if (rc < 0)
            return rc;
        swr_free(&ar->swr);
    }
    av_channel_layout_uninit(&ar->in_layout);
    nch = f->ch_layout.nb_channels;
    if (nch <= 0 || nch > 64 || f->sample_rate <= 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "decode audio of '%s': bad frame (%d channels at %d Hz)", ar->name,
                                nch, f->sample_rate);
    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
        av_channel_layout_default(&in_layout, nch);
    else if (av_channel_layout_copy(&in_layout, &f->ch_layout) < 0)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "decode audio of '%s': out of memory", ar->name);
    rc = swr_alloc_set_opts2(&ar->swr, &mono, AV_SAMPLE_FMT_FLT, ar->rate, &in_layout, f->format,
                             f->sample_rate, 0, NULL);
    if (rc < 0) {
        av_channel_layout_uninit(&in_layout);
        return media_averror(err, rc, ar->name, "set up the audio resampler for");
    }
    /* Keep the soxr choice silent when this FFmpeg lacks it. */
    if (av_opt_set(ar->swr, "resampler", "soxr", 0) >= 0)
        av_opt_set_int(ar->swr, "precision", 20, 0);
    matrix = malloc((size_t)nch * sizeof *matrix);
    if (!matrix) {
        av_channel_layout_uninit(&in_layout);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "decode audio of '%s': out of memory", ar->name);
    }
    for (int c = 0; c < nch; c++)
        matrix[c] = 1.0 / nch;
    rc = swr_set_matrix(ar->swr, matrix, nch);
    free(matrix);
    if (rc >= 0)
        rc = swr_init(ar->swr);
    if (rc < 0) {
        /* soxr may refuse an odd rate; swresample's own filter takes anything. */
        av_opt_set(ar->swr, "resampler", "swr", 0);
        rc = swr_init(ar->swr);
    }
    if (rc < 0) {
        av_channel_layout_uninit(&in_layout);
        swr_free(&ar->swr);
        return media_averror(err, rc, ar->name, "set up the audio resampler for");
    }
    ar->in_layout = in_layout;
    ar->in_rate = f->sample_rate;
    ar->in_format = f->format;
    return 0;
}

int
audio_reader_feed(struct audio_reader *ar, const AVPacket *pkt, struct sieve_errbuf *err)
{
    int rc = avcodec_send_packet(ar->dec, pkt);

    if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF)
        return media_averror(err, rc, ar->name, "decode audio of");
    for (;;) {
        rc = avcodec_receive_frame(ar->dec, ar->frame);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            break;
        if (rc < 0)
            return media_averror(err, rc, ar->name, "decode audio of");
        if (isnan(ar->first_time) && ar->frame->best_effort_timestamp != AV_NOPTS_VALUE)
            ar->first_time = (double)ar->frame->best_effort_timestamp * ar->tb;
        rc = setup_resampler(ar, ar->frame, err);
        if (rc >= 0) {
            ar->expected += (double)ar->frame->nb_samples * ar->rate / ar->frame->sample_rate;
            rc = convert(ar, ar->frame, err);
        }
        av_frame_unref(ar->frame);
        if (rc < 0)
            return rc;
    }
    if (!pkt && ar->swr) {
        int64_t whole = (int64_t)ceil(ar->expected - 1e-6);
        rc = convert(ar, NULL, err);
        /* soxr's flush can run a few samples past the end; librosa stops at the end. */
        if (rc == 0 && ar->n > whole)
            ar->n = whole;
        return rc;
    }
    return 0;
}

int
audio_reader_finish(struct audio_reader *ar, double origin, const struct media_opts *o, float **out,
                    int64_t *n, struct sieve_errbuf *err)
{
    double t0 = isnan(ar->first_time) ? 0.0 : ar->first_time - origin;
    int64_t skip = 0, keep;

    *out = NULL;
    *n = 0;
    if (o->start > t0)
        skip = llround((o->start - t0) * ar->rate);
    keep = ar->n > skip ? ar->n - skip : 0;
    if (o->duration > 0) {
        int64_t want = llround(o->duration * ar->rate);
        if (keep > want)
            keep = want;
    }
    if (keep == 0)
        return 0;
    if (skip > 0)
        memmove(ar->buf, ar->buf + skip, (size_t)keep * sizeof *ar->buf);
    *out = ar->buf;
    *n = keep;
    ar->buf = NULL;
    ar->n = ar->cap = 0;
    (void)err;
    return 0;
}

void
audio_reader_free(struct audio_reader *ar)
{
    if (!ar)
        return;
    avcodec_free_context(&ar->dec);
    av_frame_free(&ar->frame);
    swr_free(&ar->swr);
    av_channel_layout_uninit(&ar->in_layout);
    free(ar->buf);
    free(ar);
}
