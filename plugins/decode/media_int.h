/*
 * media_int.h - what media.c, audio.c and video.c share; never included outside
 * plugins/decode.
 *
 * media.c owns opening the input (a file or a memory buffer) and translating FFmpeg errors;
 * audio.c decodes and resamples the audio during the first pass; video.c chooses the frames
 * and runs the second pass.
 */
#ifndef SIEVE_DECODE_MEDIA_INT_H
#define SIEVE_DECODE_MEDIA_INT_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "media.h"

/* Where the media comes from: `path`, or `data`/`size` when path is NULL. */
struct media_src {
    const char *name; /* for messages */
    const char *path;
    const uint8_t *data;
    size_t size;
};

/* A memory reader for custom I/O. */
struct media_mem {
    const uint8_t *data;
    size_t size, pos;
};

/* One opening of the source. */
struct media_input {
    AVFormatContext *fmt;
    AVIOContext *avio; /* custom I/O for memory input, else NULL */
    struct media_mem mem;
};

/*
 * Opens the source and reads the stream parameters.
 * Errors: SIEVE_EBADINPUT (not media, corrupt header, missing file), SIEVE_ENOMEM,
 * SIEVE_ETRANSIENT (I/O error).
 * Ownership: release with media_input_close, also after a failure.
 */
int media_input_open(const struct media_src *src, struct media_input *in, struct sieve_errbuf *err);

/* Closes what media_input_open opened; safe on a zeroed or half-opened input. */
void media_input_close(struct media_input *in);

/*
 * Writes "<what formatted> '<name>': <av_strerror text> (<FFmpeg's last error line>)" and
 * returns the SIEVE_E* class of `averr` (ENOMEM, ETRANSIENT for EIO/EAGAIN, else EBADINPUT).
 */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
int
media_averror(struct sieve_errbuf *err, int averr, const char *name, const char *what, ...);

/* Clears this thread's captured FFmpeg log line. */
void media_log_reset(void);

/* Seconds of the container's start_time (0 when unknown). */
double media_origin(const AVFormatContext *fmt);

/* ---- audio.c ---- */

struct audio_reader;

/*
 * Opens a decoder for audio stream `st` and prepares mono float output at o->audio_rate.
 * Errors: SIEVE_EBADINPUT (no decoder), SIEVE_ENOMEM.
 */
int audio_reader_open(const AVStream *st, const struct media_opts *o, const char *name,
                      struct audio_reader **out, struct sieve_errbuf *err);

/* Decodes one packet (NULL flushes the decoder and the resampler). */
int audio_reader_feed(struct audio_reader *ar, const AVPacket *pkt, struct sieve_errbuf *err);

/*
 * Cuts the samples to [start, start + duration) of the container's clock and hands them over.
 * Ownership: *out is malloc'd (NULL when there are no samples).
 */
int audio_reader_finish(struct audio_reader *ar, double origin, const struct media_opts *o,
                        float **out, int64_t *n, struct sieve_errbuf *err);

void audio_reader_free(struct audio_reader *ar);

/* ---- video.c ---- */

/* Video packet timestamps gathered in the first pass. */
struct video_index {
    int64_t *ts;   /* presentation timestamps in stream time base */
    int64_t count; /* packets kept (not marked discard) */
    int64_t cap;
    int missing_pts; /* some packet had no timestamp: select in output order */
    int64_t before;  /* frames before the requested start (so pass 2 seeks) */
    double base_fps; /* the stream's r_frame_rate, a last resort for the frame rate */
};

int video_index_push(struct video_index *vi, int64_t ts);
void video_index_release(struct video_index *vi);

/*
 * Chooses the frames from the first pass's index, asks the sink for buffers, and decodes the
 * video stream `vidx` of `in` (left at its end by the first pass: it seeks back, or opens
 * `src` again), filling them. `info` has the stream facts (src size, fps, rotation) on entry
 * and gets the sampling facts.
 */
int video_run(const struct media_src *src, struct media_input *in, int vidx, struct video_index *vi,
              const struct media_opts *o, const struct media_sink *sink, struct media_info *info,
              struct sieve_errbuf *err);

#endif
