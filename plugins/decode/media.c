/*
 * media.c - opening media through libavformat, FFmpeg error translation, and the first pass
 * (count the video frames in range, decode the audio).
 */
#include "media_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/display.h>
#include <libavutil/opt.h>

#define MEM_IO_BUFFER 32768

/* ---- FFmpeg's log: keep the last error line of this thread instead of printing it ---- */

static _Thread_local char last_log[160];

static void
log_callback(void *avcl, int level, const char *fmt, va_list vl)
{
    char line[sizeof last_log];
    int print_prefix = 1;
    size_t len;

    if (level > AV_LOG_ERROR)
        return;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
    len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    if (len > 0)
        memcpy(last_log, line, len + 1);
}

void
media_log_reset(void)
{
    /* The callback is process-wide; installing it again is harmless and keeps FFmpeg quiet. */
    av_log_set_callback(log_callback);
    last_log[0] = '\0';
}

int
media_averror(struct sieve_errbuf *err, int averr, const char *name, const char *what, ...)
{
    char text[AV_ERROR_MAX_STRING_SIZE], head[200];
    va_list ap;
    int code;

    av_strerror(averr, text, sizeof text);
    va_start(ap, what);
    vsnprintf(head, sizeof head, what, ap);
    va_end(ap);
    if (averr == AVERROR(ENOMEM))
        code = SIEVE_ENOMEM;
    else if (averr == AVERROR(EIO) || averr == AVERROR(EAGAIN) || averr == AVERROR(EINTR))
        code = SIEVE_ETRANSIENT;
    else
        code = SIEVE_EBADINPUT;
    if (last_log[0])
        return sieve_errbuf_set(err, code, "%s '%s': %s (ffmpeg: %s)", head, name, text, last_log);
    return sieve_errbuf_set(err, code, "%s '%s': %s", head, name, text);
}

double
media_origin(const AVFormatContext *fmt)
{
    return fmt->start_time != AV_NOPTS_VALUE ? (double)fmt->start_time / AV_TIME_BASE : 0.0;
}

/* ---- input: a file or a memory buffer ---- */

static int
mem_read(void *opaque, uint8_t *buf, int size)
{
    struct media_mem *m = opaque;
    size_t left = m->size - m->pos;
    size_t n = (size_t)size < left ? (size_t)size : left;

    if (n == 0)
        return AVERROR_EOF;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (int)n;
}

static int64_t
mem_seek(void *opaque, int64_t offset, int whence)
{
    struct media_mem *m = opaque;
    int64_t base;

    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
        return (int64_t)m->size;
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)m->pos;
        break;
    case SEEK_END:
        base = (int64_t)m->size;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if (offset > (int64_t)m->size - base || base + offset < 0)
        return AVERROR(EINVAL);
    m->pos = (size_t)(base + offset);
    return (int64_t)m->pos;
}

/* A file in memory may not open others (playlists, concat lists, references). */
static int
deny_io_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
             AVDictionary **options)
{
    (void)s, (void)pb, (void)url, (void)flags, (void)options;
    return AVERROR(EPERM);
}

int
media_input_open(const struct media_src *src, struct media_input *in, struct sieve_errbuf *err)
{
    AVDictionary *opts = NULL;
    int rc;

    memset(in, 0, sizeof *in);
    in->fmt = avformat_alloc_context();
    if (!in->fmt)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "open '%s': out of memory", src->name);
    if (!src->path) {
        uint8_t *buf = av_malloc(MEM_IO_BUFFER);
        in->mem.data = src->data;
        in->mem.size = src->size;
        if (buf)
            in->avio =
                avio_alloc_context(buf, MEM_IO_BUFFER, 0, &in->mem, mem_read, NULL, mem_seek);
        if (!in->avio) {
            av_free(buf);
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "open '%s': out of memory", src->name);
        }
        in->fmt->pb = in->avio;
        in->fmt->io_open = deny_io_open;
    }
    /* Only local files: a media file must not make the worker fetch URLs. */
    av_dict_set(&opts, "protocol_whitelist", "file", 0);
    rc = avformat_open_input(&in->fmt, src->path ? src->path : "", NULL, &opts);
    av_dict_free(&opts);
    if (rc < 0) {
        in->fmt = NULL; /* freed by avformat_open_input on failure */
        return media_averror(err, rc, src->name, "open");
    }
    rc = avformat_find_stream_info(in->fmt, NULL);
    if (rc < 0)
        return media_averror(err, rc, src->name, "read stream info of");
    return 0;
}

void
media_input_close(struct media_input *in)
{
    if (in->fmt)
        avformat_close_input(&in->fmt);
    if (in->avio) {
        av_freep(&in->avio->buffer);
        avio_context_free(&in->avio);
    }
}

/* ---- stream facts ---- */

static int
find_video(const AVFormatContext *fmt)
{
    int best = av_find_best_stream((AVFormatContext *)fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (best >= 0 && !(fmt->streams[best]->disposition & AV_DISPOSITION_ATTACHED_PIC))
        return best;
    /* The best one is a cover picture; take any real video stream. */
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
            !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
            return (int)i;
    }
    return -1;
}

/* Clockwise degrees that make the picture upright, from the display matrix (as ffmpeg does). */
static int
stream_rotation(const AVStream *st)
{
    size_t size = 0;
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    double theta;
    int r;

    if (!m || size < 9 * sizeof(int32_t))
        return 0;
    theta = -av_display_rotation_get((const int32_t *)m);
    if (isnan(theta))
        return 0;
    r = (int)lround(theta / 90.0) * 90;
    r %= 360;
    return r < 0 ? r + 360 : r;
}

static double
rate_of(AVRational r)
{
    return r.num > 0 && r.den > 0 ? av_q2d(r) : 0.0;
}

static void
describe(const AVFormatContext *fmt, int vidx, int aidx, struct media_info *info)
{
    info->duration = fmt->duration > 0 ? (double)fmt->duration / AV_TIME_BASE : 0.0;
    if (vidx >= 0) {
        const AVStream *st = fmt->streams[vidx];
        info->has_video = 1;
        snprintf(info->video_codec, sizeof info->video_codec, "%s",
                 avcodec_get_name(st->codecpar->codec_id));
        info->src_width = st->codecpar->width;
        info->src_height = st->codecpar->height;
        info->rotation_tag = stream_rotation(st);
        /* The average rate, as decord's get_avg_fps; video.c fills it in when unknown. */
        info->src_fps = rate_of(st->avg_frame_rate);
    }
    if (aidx >= 0) {
        const AVStream *st = fmt->streams[aidx];
        info->has_audio = 1;
        snprintf(info->audio_codec, sizeof info->audio_codec, "%s",
                 avcodec_get_name(st->codecpar->codec_id));
        info->audio_src_rate = st->codecpar->sample_rate;
        info->audio_src_channels = st->codecpar->ch_layout.nb_channels;
    }
}

/* mov/mp4 index every sample, so fewer packets than the index promises means truncation. */
static int
indexed_container(const AVFormatContext *fmt)
{
    return fmt->iformat && strstr(fmt->iformat->name, "mp4") != NULL;
}

/* ---- the first pass ---- */

struct pass1 {
    const struct media_src *src;
    const AVFormatContext *fmt;
    const struct media_opts *o;
    const struct media_sink *sink;
    int vidx, aidx;
    double origin, atb;
    struct video_index *vi;
    struct audio_reader *ar;
    int64_t read_v, read_a;
};

static int
too_long(const struct media_src *src, const struct media_opts *o, double seconds,
         struct sieve_errbuf *err)
{
    return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                            "read '%s': %.0f s of media, more than max_duration %g s (set "
                            "'duration' to read a part, or raise 'max_duration')",
                            src->name, seconds, o->max_duration);
}

static int
pass1_packet(struct pass1 *p, AVPacket *pkt, struct sieve_errbuf *err)
{
    if (p->o->duration <= 0 && p->o->max_duration > 0 && pkt->pts != AV_NOPTS_VALUE) {
        AVRational tb = p->fmt->streams[pkt->stream_index]->time_base;
        double t = (double)pkt->pts * av_q2d(tb) - p->origin;
        if (t > p->o->start + p->o->max_duration)
            return too_long(p->src, p->o, t, err);
    }
    if (pkt->flags & AV_PKT_FLAG_CORRUPT)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "read '%s': truncated or corrupt packet in stream %d", p->src->name,
                                pkt->stream_index);
    if (pkt->stream_index == p->vidx) {
        p->read_v++;
        if (pkt->flags & AV_PKT_FLAG_DISCARD)
            return 0; /* before an edit list's start: decoded, never shown */
        if (pkt->pts == AV_NOPTS_VALUE)
            p->vi->missing_pts = 1;
        if (video_index_push(p->vi, pkt->pts) < 0)
            return sieve_errbuf_set(err, SIEVE_ENOMEM, "read '%s': out of memory", p->src->name);
    } else if (pkt->stream_index == p->aidx) {
        p->read_a++;
        /* Past the end of the range by a second: no need to decode (the reader cuts anyway). */
        if (p->o->duration > 0 && pkt->pts != AV_NOPTS_VALUE &&
            (double)pkt->pts * p->atb - p->origin > p->o->start + p->o->duration + 1.0)
            return 0;
        return audio_reader_feed(p->ar, pkt, err);
    }
    return 0;
}

static int
pass1(struct pass1 *p, AVFormatContext *fmt, struct sieve_errbuf *err)
{
    AVPacket *pkt = av_packet_alloc();
    int64_t size = fmt->pb ? avio_size(fmt->pb) : -1;
    int rc = 0, n = 0;

    if (!pkt)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "read '%s': out of memory", p->src->name);
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        fmt->streams[i]->discard =
            ((int)i == p->vidx || (int)i == p->aidx) ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    for (;;) {
        rc = av_read_frame(fmt, pkt);
        if (rc == AVERROR_EOF) {
            rc = 0;
            break;
        }
        if (rc < 0) {
            rc = media_averror(err, rc, p->src->name, "read");
            break;
        }
        rc = pass1_packet(p, pkt, err);
        av_packet_unref(pkt);
        if (rc < 0)
            break;
        if (++n % 64 == 0 && p->sink->tick && size > 0) {
            double f = (double)avio_tell(fmt->pb) / (double)size;
            if (p->sink->tick(p->sink->opaque, 0.2 * (f < 1 ? f : 1))) {
                rc = sieve_errbuf_set(err, SIEVE_ECANCELED, "decode '%s': cancelled", p->src->name);
                break;
            }
        }
    }
    av_packet_free(&pkt);
    if (rc < 0)
        return rc;
    if (fmt->pb && fmt->pb->error < 0)
        return media_averror(err, fmt->pb->error, p->src->name, "read");
    if (indexed_container(fmt)) {
        const AVStream *v = p->vidx >= 0 ? fmt->streams[p->vidx] : NULL;
        const AVStream *a = p->aidx >= 0 ? fmt->streams[p->aidx] : NULL;
        if ((v && v->nb_frames > p->read_v) || (a && a->nb_frames > p->read_a))
            return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                    "read '%s': truncated file: %lld of %lld packets present",
                                    p->src->name, (long long)(p->read_v + p->read_a),
                                    (long long)((v ? v->nb_frames : 0) + (a ? a->nb_frames : 0)));
    }
    if (p->ar)
        return audio_reader_feed(p->ar, NULL, err);
    return 0;
}

/* ---- the whole job ---- */

static void
info_init(struct media_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->video_codec, sizeof info->video_codec, "none");
    snprintf(info->audio_codec, sizeof info->audio_codec, "none");
    info->by_pts = 1;
}

static int
decode_src(const struct media_src *src, const struct media_opts *o, const struct media_sink *sink,
           struct media_info *info, float **audio, int64_t *n_audio, struct sieve_errbuf *err)
{
    struct media_input in;
    struct video_index vi = {0};
    struct pass1 p = {.src = src, .o = o, .sink = sink, .vi = &vi, .vidx = -1, .aidx = -1};
    int vidx, aidx, rc;

    info_init(info);
    *audio = NULL;
    *n_audio = 0;
    media_log_reset();
    rc = media_input_open(src, &in, err);
    if (rc < 0)
        goto out;
    vidx = find_video(in.fmt);
    aidx = av_find_best_stream(in.fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (aidx < 0)
        aidx = -1;
    if (vidx < 0 && aidx < 0) {
        rc = sieve_errbuf_set(err, SIEVE_EBADINPUT, "open '%s': no audio or video stream",
                              src->name);
        goto out;
    }
    describe(in.fmt, vidx, aidx, info);
    info->rotation = o->rotation == MEDIA_ROTATION_APPLY ? info->rotation_tag : 0;
    /* A 10-hour file read whole is gigabytes of samples: refused before decoding when the
     * container says how long it is, and while reading (pass1_packet) when it does not. */
    if (o->duration <= 0 && o->max_duration > 0 && info->duration > o->start + o->max_duration) {
        rc = too_long(src, o, info->duration, err);
        goto out;
    }
    p.origin = media_origin(in.fmt);
    p.fmt = in.fmt;
    if (o->video && vidx >= 0) {
        p.vidx = vidx;
        vi.base_fps = rate_of(in.fmt->streams[vidx]->r_frame_rate);
    }
    if (o->audio && aidx >= 0) {
        p.aidx = aidx;
        p.atb = av_q2d(in.fmt->streams[aidx]->time_base);
        rc = audio_reader_open(in.fmt->streams[aidx], o, src->name, &p.ar, err);
        if (rc < 0)
            goto out;
    }
    if (p.vidx >= 0 || p.aidx >= 0) {
        rc = pass1(&p, in.fmt, err);
        if (rc < 0)
            goto out;
    }
    if (p.ar) {
        rc = audio_reader_finish(p.ar, p.origin, o, audio, n_audio, err);
        if (rc < 0)
            goto out;
        info->audio_samples = *n_audio;
        info->audio_read = *n_audio > 0;
    }
    if (p.vidx >= 0) {
        rc = video_run(src, &in, p.vidx, &vi, o, sink, info, err);
        if (rc < 0)
            goto out;
    }
    rc = 0;
out:
    media_input_close(&in);
    audio_reader_free(p.ar);
    video_index_release(&vi);
    if (rc < 0) {
        free(*audio);
        *audio = NULL;
        *n_audio = 0;
    }
    return rc;
}

void
media_opts_init(struct media_opts *o)
{
    memset(o, 0, sizeof *o);
    o->fps = 2.0;
    o->min_pixels = 128 * 28 * 28;
    o->max_pixels = 768 * 28 * 28;
    o->total_pixels = 90316800;
    o->min_frames = 4;
    o->max_frames = 768;
    o->resize = MEDIA_RESIZE_BICUBIC;
    o->rotation = MEDIA_ROTATION_IGNORE;
    o->audio_rate = 16000;
    o->max_duration = 3600;
    o->video = o->audio = o->frame_types = 1;
}

int
media_decode_file(const char *path, const struct media_opts *o, const struct media_sink *sink,
                  struct media_info *info, float **audio, int64_t *n_audio,
                  struct sieve_errbuf *err)
{
    struct media_src src = {.name = path, .path = path};
    return decode_src(&src, o, sink, info, audio, n_audio, err);
}

int
media_decode_buffer(const char *name, const uint8_t *data, size_t size, const struct media_opts *o,
                    const struct media_sink *sink, struct media_info *info, float **audio,
                    int64_t *n_audio, struct sieve_errbuf *err)
{
    struct media_src src = {.name = name, .path = NULL, .data = data, .size = size};
    return decode_src(&src, o, sink, info, audio, n_audio, err);
}
