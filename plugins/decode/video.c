/*
 * video.c - frame selection and the second pass: decode the video stream, convert the chosen
 * frames to RGB at the smart_resize size, rotate them upright, and record their timestamps,
 * codec frame types and motion.
 *
 * Every chosen frame is scaled into an aligned scratch picture and then copied (or rotated)
 * into the sink's buffer: swscale's SIMD paths want 16-byte aligned rows and may touch bytes
 * past a row's end, and the sink's buffer has neither padding nor alignment.
 */
#include "media_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/motion_vector.h>
#include <libavutil/pixdesc.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "sampling.h"

#define CELL SAMPLING_FACTOR
#define ROW_ALIGN 64

int
video_index_push(struct video_index *vi, int64_t ts)
{
    if (vi->count == vi->cap) {
        int64_t cap = vi->cap ? vi->cap * 2 : 1024;
        int64_t *t = realloc(vi->ts, (size_t)cap * sizeof *t);
        if (!t)
            return SIEVE_ENOMEM;
        vi->ts = t;
        vi->cap = cap;
    }
    vi->ts[vi->count++] = ts;
    return 0;
}

void
video_index_release(struct video_index *vi)
{
    free(vi->ts);
    memset(vi, 0, sizeof *vi);
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/*
 * Turns the packet list into the sorted presentation times of the frames in
 * [start, start + duration), or frame numbers when timestamps are missing.
 */
static void
index_range(struct video_index *vi, double tb, double origin, double fps,
            const struct media_opts *o)
{
    const double lo = o->start - 1e-9, hi = o->start + o->duration - 1e-9;
    int64_t kept = 0;

    if (vi->missing_pts) {
        for (int64_t i = 0; i < vi->count; i++)
            vi->ts[i] = i;
    } else {
        if (vi->count > 1)
            qsort(vi->ts, (size_t)vi->count, sizeof *vi->ts, cmp_i64);
    }
    vi->before = 0;
    for (int64_t i = 0; i < vi->count; i++) {
        double t = vi->missing_pts ? (double)i / fps : (double)vi->ts[i] * tb - origin;
        if (t < lo)
            vi->before++;
        else if (o->duration <= 0 || t < hi)
            vi->ts[kept++] = vi->ts[i];
    }
    vi->count = kept;
}

/* Everything the second pass needs. */
struct vrun {
    const struct media_src *src;
    const struct media_opts *o;
    const struct media_sink *sink;
    struct media_info *info;
    struct media_video_out out;
    int64_t n;         /* frames to emit */
    int64_t *want;     /* [n] timestamps (or frame numbers) to emit, non-decreasing */
    int64_t next;      /* next target */
    int64_t shown;     /* frames output by the decoder so far (frame-order mode) */
    double tb, origin; /* stream time base and container start, seconds */
    int64_t sw, sh;    /* scaled size before rotation */
    struct SwsContext *sws;
    uint8_t *pic; /* aligned scratch RGB picture, sh x stride */
    int stride;
    double *cell_sum, *cell_area; /* [gh * gw] motion accumulators */
    int after_seek;               /* the next frame is the first after a seek */
};

/*
 * decode_pass's answer when a seek did not lead to the first target: it landed after it, on
 * no frame at all, or where the decoder cannot start. The pass is then run from the start.
 */
#define OVERSHOT 1

/* Chooses n and the target timestamps, and the output size (sampling.h). */
static int
plan(struct vrun *r, const struct video_index *vi, struct sieve_errbuf *err)
{
    const struct media_opts *o = r->o;
    struct media_info *info = r->info;
    const int64_t total = vi->count;
    double cap;
    int64_t *idx, rh, rw;
    int rc;

    if (total == 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "decode '%s': no video frames%s",
                                r->src->name, o->start > 0 || o->duration > 0 ? " in range" : "");
    if (!(info->src_fps > 0)) {
        /*
         * No average rate declared (Matroska, raw streams): derive it from the timestamps,
         * else take the stream's base rate, else 25 as FFmpeg assumes.
         */
        double span = (double)(vi->ts[total - 1] - vi->ts[0]) * r->tb;
        if (!vi->missing_pts && total > 1 && span > 0)
            info->src_fps = (double)(total - 1) / span;
        else
            info->src_fps = vi->base_fps > 0 ? vi->base_fps : 25.0;
    }
    if (total == 1) {
        /* One picture (a still image): the encoder takes frames in pairs, so show it twice. */
        r->n = 2;
    } else {
        r->n = sampling_smart_nframes(total, info->src_fps, o->fps, o->min_frames, o->max_frames);
        if (r->n < 0)
            return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                    "decode '%s': cannot sample %lld frames at %g fps",
                                    r->src->name, (long long)total, o->fps);
    }
    idx = malloc((size_t)r->n * sizeof *idx);
    r->want = malloc((size_t)r->n * sizeof *r->want);
    if (!idx || !r->want) {
        free(idx);
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "decode '%s': out of memory", r->src->name);
    }
    if (total == 1)
        idx[0] = idx[1] = 0;
    else
        sampling_frame_indices(total, r->n, idx);
    if (vi->missing_pts || total == 1) {
        for (int64_t k = 0; k < r->n; k++)
            r->want[k] = vi->ts[idx[k]];
    } else {
        /* Nearest timestamp to an even spread over the first..last span. */
        const double t0 = (double)vi->ts[0];
        const double step = ((double)vi->ts[total - 1] - t0) / (double)(total - 1);
        int64_t j = 0;
        for (int64_t k = 0; k < r->n; k++) {
            double target = t0 + (double)idx[k] * step;
            while (j + 1 < total &&
                   fabs((double)vi->ts[j + 1] - target) < fabs((double)vi->ts[j] - target))
                j++;
            r->want[k] = vi->ts[j];
        }
    }
    free(idx);
    info->total_frames = total;
    info->n_frames = r->n;
    info->by_pts = !vi->missing_pts;
    info->sample_fps = sampling_sample_fps(r->n, total, info->src_fps);

    cap = sampling_video_max_pixels(o->max_pixels, o->min_pixels, o->total_pixels, r->n);
    rh = info->rotation % 180 ? info->src_width : info->src_height;
    rw = info->rotation % 180 ? info->src_height : info->src_width;
    rc = sampling_smart_resize(rh, rw, o->min_pixels, cap, &info->height, &info->width);
    if (rc < 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT,
                                "decode '%s': cannot size a %lldx%lld picture (aspect ratio "
                                "above %d or empty)",
                                r->src->name, (long long)rw, (long long)rh, SAMPLING_MAX_RATIO);
    r->sh = info->rotation % 180 ? info->width : info->height;
    r->sw = info->rotation % 180 ? info->height : info->width;
    return 0;
}

static int
scale_flags(int resize)
{
    switch (resize) {
    case MEDIA_RESIZE_BILINEAR:
        return SWS_BILINEAR;
    case MEDIA_RESIZE_AREA:
        return SWS_AREA;
    default:
        return SWS_BICUBIC;
    }
}

/* Copies the scratch picture into output frame k, turning it `rotation` degrees clockwise. */
static void
place(const struct vrun *r, uint8_t *dst)
{
    const int64_t sw = r->sw, sh = r->sh, ow = r->info->width;
    const uint8_t *src = r->pic;

    switch (r->info->rotation) {
    case 0:
        for (int64_t y = 0; y < sh; y++)
            memcpy(dst + y * sw * 3, src + y * r->stride, (size_t)sw * 3);
        break;
    case 180:
        for (int64_t y = 0; y < sh; y++)
            for (int64_t x = 0; x < sw; x++)
                memcpy(dst + ((sh - 1 - y) * sw + (sw - 1 - x)) * 3, src + y * r->stride + x * 3,
                       3);
        break;
    case 90: /* out[x][sh - 1 - y] = in[y][x] */
        for (int64_t y = 0; y < sh; y++)
            for (int64_t x = 0; x < sw; x++)
                memcpy(dst + (x * ow + (sh - 1 - y)) * 3, src + y * r->stride + x * 3, 3);
        break;
    default: /* 270: out[sw - 1 - x][y] = in[y][x] */
        for (int64_t y = 0; y < sh; y++)
            for (int64_t x = 0; x < sw; x++)
                memcpy(dst + ((sw - 1 - x) * ow + y) * 3, src + y * r->stride + x * 3, 3);
        break;
    }
}

/* Maps a point of the scaled, unrotated picture to the output picture. */
static void
rotate_point(const struct vrun *r, double x, double y, double *ox, double *oy)
{
    switch (r->info->rotation) {
    case 90:
        *ox = (double)r->sh - 1 - y;
        *oy = x;
        break;
    case 180:
        *ox = (double)r->sw - 1 - x;
        *oy = (double)r->sh - 1 - y;
        break;
    case 270:
        *ox = y;
        *oy = (double)r->sw - 1 - x;
        break;
    default:
        *ox = x;
        *oy = y;
    }
}

/*
 * Fills motion[gh, gw] for frame f: the area-weighted mean length of the motion vectors whose
 * block centre falls in each 28-pixel cell of the output picture, in output pixels. Cells
 * without inter-predicted blocks (all of an I-frame) are 0.
 */
static void
motion_cells(struct vrun *r, const AVFrame *f, float *motion)
{
    const AVFrameSideData *sd = av_frame_get_side_data(f, AV_FRAME_DATA_MOTION_VECTORS);
    const int64_t gw = r->info->width / CELL, gh = r->info->height / CELL;
    const double sx = (double)r->sw / f->width, sy = (double)r->sh / f->height;

    memset(r->cell_sum, 0, (size_t)(gw * gh) * sizeof *r->cell_sum);
    memset(r->cell_area, 0, (size_t)(gw * gh) * sizeof *r->cell_area);
    if (sd) {
        const AVMotionVector *mv = (const AVMotionVector *)sd->data;
        size_t count = sd->size / sizeof *mv;
        for (size_t i = 0; i < count; i++) {
            double dx, dy, ox, oy, area = (double)mv[i].w * mv[i].h;
            int64_t cx, cy;
            if (mv[i].motion_scale > 0) {
                dx = (double)mv[i].motion_x / mv[i].motion_scale;
                dy = (double)mv[i].motion_y / mv[i].motion_scale;
            } else {
                dx = (double)mv[i].src_x - mv[i].dst_x;
                dy = (double)mv[i].src_y - mv[i].dst_y;
            }
            rotate_point(r, mv[i].dst_x * sx, mv[i].dst_y * sy, &ox, &oy);
            cx = (int64_t)floor(ox / CELL);
            cy = (int64_t)floor(oy / CELL);
            if (cx < 0 || cy < 0 || cx >= gw || cy >= gh || !(area > 0))
                continue;
            r->cell_sum[cy * gw + cx] += area * hypot(dx * sx, dy * sy);
            r->cell_area[cy * gw + cx] += area;
        }
    }
    for (int64_t c = 0; c < gw * gh; c++)
        motion[c] = r->cell_area[c] > 0 ? (float)(r->cell_sum[c] / r->cell_area[c]) : 0.0f;
}

static uint8_t
type_char(enum AVPictureType t)
{
    switch (t) {
    case AV_PICTURE_TYPE_I:
        return 'I';
    case AV_PICTURE_TYPE_P:
        return 'P';
    case AV_PICTURE_TYPE_B:
        return 'B';
    default:
        return '?';
    }
}

/* Scales f into the scratch picture with the colour matrix the frame declares. */
static int
convert(struct vrun *r, const AVFrame *f, struct sieve_errbuf *err)
{
    double param[2] = {0.0, 0.5}; /* Keys a = -0.5, the cubic of PIL and torchvision */
    const int *coefs;
    int full_range, rc;
    uint8_t *dst[4] = {r->pic, NULL, NULL, NULL};
    int dst_stride[4] = {r->stride, 0, 0, 0};

    if (f->width <= 0 || f->height <= 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "decode '%s': empty video frame",
                                r->src->name);
    r->sws = sws_getCachedContext(r->sws, f->width, f->height, f->format, (int)r->sw, (int)r->sh,
                                  AV_PIX_FMT_RGB24, scale_flags(r->o->resize), NULL, NULL,
                                  r->o->resize == MEDIA_RESIZE_BICUBIC ? param : NULL);
    if (!r->sws)
        return sieve_errbuf_set(
            err, SIEVE_EBADINPUT, "decode '%s': cannot convert %dx%d %s frames to RGB",
            r->src->name, f->width, f->height,
            av_get_pix_fmt_name(f->format) ? av_get_pix_fmt_name(f->format) : "unknown");
    /* As the scale filter's in_color_matrix=auto: the frame's matrix, BT.601 when unset. */
    coefs = sws_getCoefficients(f->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT
                                                                       : (int)f->colorspace);
    full_range = f->color_range == AVCOL_RANGE_JPEG;
    if (f->format == AV_PIX_FMT_YUVJ420P || f->format == AV_PIX_FMT_YUVJ422P ||
        f->format == AV_PIX_FMT_YUVJ444P)
        full_range = 1;
    sws_setColorspaceDetails(r->sws, coefs, full_range, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0,
                             1 << 16, 1 << 16);
    rc = sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
                   dst_stride);
    if (rc <= 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "decode '%s': frame conversion failed",
                                r->src->name);
    return 0;
}

/* Emits decoded frame f for every target it satisfies. */
static int
take_frame(struct vrun *r, const AVFrame *f, struct sieve_errbuf *err)
{
    const size_t frame_bytes = (size_t)(r->info->height * r->info->width * 3);
    const int64_t cells = (r->info->height / CELL) * (r->info->width / CELL);
    int64_t ts, first = -1;
    int rc;

    if (r->info->by_pts) {
        ts = f->pts != AV_NOPTS_VALUE ? f->pts : f->best_effort_timestamp;
        if (ts == AV_NOPTS_VALUE)
            return 0;
        if (r->after_seek) {
            r->after_seek = 0;
            if (ts > r->want[0])
                return OVERSHOT;
        }
    } else {
        ts = r->shown++;
    }
    while (r->next < r->n && r->want[r->next] <= ts) {
        int64_t k = r->next++;
        if (first < 0) {
            rc = convert(r, f, err);
            if (rc < 0)
                return rc;
            place(r, r->out.frames + (size_t)k * frame_bytes);
            r->out.pts[k] =
                r->info->by_pts ? (double)ts * r->tb - r->origin : (double)ts / r->info->src_fps;
            if (r->out.types)
                r->out.types[k] = type_char(f->pict_type);
            if (r->out.motion)
                motion_cells(r, f, r->out.motion + k * cells);
            first = k;
            continue;
        }
        /* A frame that stands for several targets (a short or variable-rate clip). */
        memcpy(r->out.frames + (size_t)k * frame_bytes, r->out.frames + (size_t)first * frame_bytes,
               frame_bytes);
        r->out.pts[k] = r->out.pts[first];
        if (r->out.types)
            r->out.types[k] = r->out.types[first];
        if (r->out.motion)
            memcpy(r->out.motion + k * cells, r->out.motion + first * cells,
                   (size_t)cells * sizeof *r->out.motion);
    }
    return 0;
}

static int
open_decoder(struct vrun *r, const AVStream *st, AVCodecContext **out, struct sieve_errbuf *err)
{
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    AVCodecContext *dec;
    AVDictionary *opts = NULL;
    int rc;

    *out = NULL;
    if (!codec)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "open '%s': no decoder for video codec '%s'",
                                r->src->name, avcodec_get_name(st->codecpar->codec_id));
    dec = avcodec_alloc_context3(codec);
    if (!dec)
        return sieve_errbuf_set(err, SIEVE_ENOMEM, "open '%s': out of memory", r->src->name);
    rc = avcodec_parameters_to_context(dec, st->codecpar);
    if (rc >= 0) {
        dec->pkt_timebase = st->time_base;
        dec->thread_count = r->o->threads;
        /* With frame threading the motion vectors FFmpeg exports depend on timing (measured:
         * the last frame's vectors of an x264 clip with B-frames differed in about 1 run of 30
         * under load), so exporting them keeps decoding to slice threads. */
        dec->thread_type =
            r->o->motion_vectors ? FF_THREAD_SLICE : FF_THREAD_FRAME | FF_THREAD_SLICE;
        if (r->o->limit_pixels > 0)
            dec->max_pixels = r->o->limit_pixels;
        if (r->o->motion_vectors)
            av_dict_set(&opts, "flags2", "+export_mvs", 0);
        rc = avcodec_open2(dec, codec, &opts);
        av_dict_free(&opts);
    }
    if (rc < 0) {
        avcodec_free_context(&dec);
        return media_averror(err, rc, r->src->name, "open video decoder '%s' for", codec->name);
    }
    *out = dec;
    return 0;
}

static int
receive_all(struct vrun *r, AVCodecContext *dec, AVFrame *f, struct sieve_errbuf *err)
{
    for (;;) {
        int rc = avcodec_receive_frame(dec, f);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            return 0;
        if (rc < 0 && r->after_seek)
            return OVERSHOT; /* a seek to a point the decoder cannot start from */
        if (rc < 0)
            return media_averror(err, rc, r->src->name, "decode video frame %lld of",
                                 (long long)r->next);
        rc = take_frame(r, f, err);
        av_frame_unref(f);
        if (rc != 0)
            return rc;
        if (r->next == r->n)
            return 0;
    }
}

/* Decodes the stream until every target is emitted or the stream ends. */
static int
decode_pass(struct vrun *r, AVFormatContext *fmt, int vidx, AVCodecContext *dec,
            struct sieve_errbuf *err)
{
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int rc = 0, eof = 0;

    if (!pkt || !f) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "decode '%s': out of memory", r->src->name);
        goto out;
    }
    while (r->next < r->n && !eof) {
        rc = av_read_frame(fmt, pkt);
        if (rc == AVERROR_EOF) {
            eof = 1;
            rc = avcodec_send_packet(dec, NULL);
        } else if (rc < 0) {
            rc = media_averror(err, rc, r->src->name, "read");
            goto out;
        } else if (pkt->stream_index != vidx) {
            av_packet_unref(pkt);
            continue;
        } else {
            rc = avcodec_send_packet(dec, pkt);
            av_packet_unref(pkt);
        }
        if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF && r->after_seek) {
            rc = OVERSHOT; /* a seek to a point the decoder cannot start from */
            goto out;
        }
        if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) {
            rc = media_averror(err, rc, r->src->name, "decode video frame %lld of",
                               (long long)r->next);
            goto out;
        }
        rc = receive_all(r, dec, f, err);
        if (rc != 0)
            goto out;
        double done = 0.2 + 0.8 * ((double)r->next / (double)r->n);
        if (r->sink->tick && r->sink->tick(r->sink->opaque, done < 1 ? done : 1)) {
            rc = sieve_errbuf_set(err, SIEVE_ECANCELED, "decode '%s': cancelled", r->src->name);
            goto out;
        }
    }
    /* A seek that led to no frame at all (past the last keyframe) failed as well. */
    rc = r->after_seek ? OVERSHOT : 0;
out:
    av_packet_free(&pkt);
    av_frame_free(&f);
    return rc;
}

/* Targets the stream never delivered (a damaged tail) repeat the last frame delivered. */
static int
fill_missing(struct vrun *r, struct sieve_errbuf *err)
{
    const size_t frame_bytes = (size_t)(r->info->height * r->info->width * 3);
    const int64_t cells = (r->info->height / CELL) * (r->info->width / CELL);

    if (r->next == 0)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "decode '%s': no video frame decoded",
                                r->src->name);
    for (int64_t k = r->next; k < r->n; k++) {
        memcpy(r->out.frames + (size_t)k * frame_bytes,
               r->out.frames + (size_t)(k - 1) * frame_bytes, frame_bytes);
        r->out.pts[k] = r->out.pts[k - 1];
        if (r->out.types)
            r->out.types[k] = r->out.types[k - 1];
        if (r->out.motion)
            memcpy(r->out.motion + k * cells, r->out.motion + (k - 1) * cells,
                   (size_t)cells * sizeof *r->out.motion);
    }
    return 0;
}

/* Closes `in` and opens the source again, positioned at its beginning. */
static int
reopen(struct vrun *r, struct media_input *in, int vidx, struct sieve_errbuf *err)
{
    int rc;
    media_input_close(in);
    rc = media_input_open(r->src, in, err);
    if (rc < 0)
        return rc;
    if (vidx >= (int)in->fmt->nb_streams ||
        in->fmt->streams[vidx]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO)
        return sieve_errbuf_set(err, SIEVE_EBADINPUT, "open '%s': streams changed between reads",
                                r->src->name);
    return 0;
}

int
video_run(const struct media_src *src, struct media_input *in, int vidx, struct video_index *vi,
          const struct media_opts *o, const struct media_sink *sink, struct media_info *info,
          struct sieve_errbuf *err)
{
    struct vrun r = {.src = src, .o = o, .sink = sink, .info = info};
    AVCodecContext *dec = NULL;
    AVStream *st = in->fmt->streams[vidx];
    int rc, seek;

    r.tb = av_q2d(st->time_base);
    r.origin = media_origin(in->fmt);
    index_range(vi, r.tb, r.origin,
                info->src_fps > 0  ? info->src_fps
                : vi->base_fps > 0 ? vi->base_fps
                                   : 25.0,
                o);
    rc = plan(&r, vi, err);
    if (rc < 0)
        goto out;
    r.stride = (int)((r.sw * 3 + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN);
    r.pic = av_malloc((size_t)r.stride * (size_t)r.sh + ROW_ALIGN);
    if (o->motion_vectors) {
        size_t cells = (size_t)((info->width / CELL) * (info->height / CELL));
        r.cell_sum = malloc(cells * sizeof *r.cell_sum);
        r.cell_area = malloc(cells * sizeof *r.cell_area);
    }
    if (!r.pic || (o->motion_vectors && (!r.cell_sum || !r.cell_area))) {
        rc = sieve_errbuf_set(err, SIEVE_ENOMEM, "decode '%s': out of memory", src->name);
        goto out;
    }
    rc = sink->video_alloc(sink->opaque, info, &r.out, err);
    if (rc < 0)
        goto out;
    if (!o->frame_types)
        r.out.types = NULL;
    if (!o->motion_vectors)
        r.out.motion = NULL;
    /*
     * The first pass left the input at its end. Seeking back to the keyframe before the first
     * target is cheaper than opening again (which probes the streams anew); a stream without
     * timestamps cannot be checked after a seek, so it is opened again instead.
     */
    seek = info->by_pts;
    if (!seek) {
        rc = reopen(&r, in, vidx, err);
        if (rc < 0)
            goto out;
    }
    for (;;) {
        st = in->fmt->streams[vidx];
        rc = open_decoder(&r, st, &dec, err);
        if (rc < 0)
            goto out;
        for (unsigned i = 0; i < in->fmt->nb_streams; i++)
            in->fmt->streams[i]->discard = (int)i == vidx ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
        r.after_seek = seek && av_seek_frame(in->fmt, vidx, r.want[0], AVSEEK_FLAG_BACKWARD) >= 0;
        media_log_reset();
        if (seek && !r.after_seek)
            rc = OVERSHOT; /* could not seek back: open again */
        else
            rc = decode_pass(&r, in->fmt, vidx, dec, err);
        if (rc != OVERSHOT)
            break;
        /*
         * The seek failed or landed after the first target (seeking is approximate in MPEG-TS
         * and other containers without an index): read from the beginning instead.
         */
        seek = 0;
        r.next = r.shown = 0;
        avcodec_free_context(&dec);
        rc = reopen(&r, in, vidx, err);
        if (rc < 0)
            goto out;
    }
    if (rc < 0)
        goto out;
    rc = fill_missing(&r, err);
    if (rc < 0)
        goto out;
    info->video_read = 1;
out:
    avcodec_free_context(&dec);
    sws_freeContext(r.sws);
    av_free(r.pic);
    free(r.cell_sum);
    free(r.cell_area);
    free(r.want);
    return rc;
}
