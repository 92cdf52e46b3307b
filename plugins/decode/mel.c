/*
 * mel.c - Whisper log-mel spectrogram: periodic Hann, 400-point mixed-radix FFT, Slaney mel
 * filterbank, log10 with the max-8 floor.
 *
 * The FFT is a recursive decimation-in-time Cooley-Tukey over the factors of 400 (4, 4, 5, 5)
 * with generic radix-p butterflies. It costs about 7,000 complex multiply-adds per frame, so a
 * second of audio (100 frames) takes well under a millisecond on one core; a dense DFT would be
 * ten times slower and would miss the 100x real-time target on a slow core.
 */
#include "mel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sieve/plugin.h>

#define MAX_FACTORS 16
#define MAX_RADIX 5
#define TWO_PI 6.283185307179586476925286766559

struct cpx {
    double re, im;
};

/* One filter's non-zero run of FFT bins, so the product skips the zeros. */
struct band {
    int first, count;
};

struct mel_bank {
    int rate, n_mels;
    int factors[MAX_FACTORS + 1]; /* radices of MEL_N_FFT, 0-terminated */
    double window[MEL_N_FFT];
    struct cpx twiddle[MEL_N_FFT]; /* exp(-2 pi i k / N) */
    double *filters;               /* [n_mels, MEL_N_BINS] */
    struct band *bands;
};

/* librosa's hz_to_mel with htk=False (Slaney): linear to 1 kHz, logarithmic above. */
static double
hz_to_mel(double hz)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0;
    const double min_log_mel = min_log_hz / f_sp, logstep = log(6.4) / 27.0;
    if (hz >= min_log_hz)
        return min_log_mel + log(hz / min_log_hz) / logstep;
    return hz / f_sp;
}

static double
mel_to_hz(double mel)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0;
    const double min_log_mel = min_log_hz / f_sp, logstep = log(6.4) / 27.0;
    if (mel >= min_log_mel)
        return min_log_hz * exp(logstep * (mel - min_log_mel));
    return f_sp * mel;
}

/* Fills the [n_mels, 201] triangle filters with Slaney area normalisation. */
static int
build_filters(struct mel_bank *mb)
{
    const int n = mb->n_mels;
    double *pts = malloc((size_t)(n + 2) * sizeof *pts);
    double mel_lo = hz_to_mel(0.0), mel_hi = hz_to_mel(mb->rate / 2.0);

    if (!pts)
        return SIEVE_ENOMEM;
    /* np.linspace(mel_lo, mel_hi, n + 2) then back to Hz. */
    for (int i = 0; i < n + 2; i++) {
        double step = (mel_hi - mel_lo) / (double)(n + 1);
        double m = i == n + 1 ? mel_hi : mel_lo + step * i;
        pts[i] = mel_to_hz(m);
    }
    for (int i = 0; i < n; i++) {
        double *row = mb->filters + (size_t)i * MEL_N_BINS;
        double d_lo = pts[i + 1] - pts[i], d_hi = pts[i + 2] - pts[i + 1];
        double norm = 2.0 / (pts[i + 2] - pts[i]);
        int first = -1, last = -1;
        for (int k = 0; k < MEL_N_BINS; k++) {
            double f = (double)k * mb->rate / MEL_N_FFT;
            double lower = (f - pts[i]) / d_lo, upper = (pts[i + 2] - f) / d_hi;
            double w = lower < upper ? lower : upper;
            row[k] = w > 0 ? w * norm : 0.0;
            if (row[k] != 0.0) {
                if (first < 0)
                    first = k;
                last = k;
            }
        }
        mb->bands[i].first = first < 0 ? 0 : first;
        mb->bands[i].count = first < 0 ? 0 : last - first + 1;
    }
    free(pts);
    return 0;
}

int
mel_bank_new(int sample_rate, int n_mels, struct mel_bank **out)
{
    struct mel_bank *mb;
    int n = MEL_N_FFT, nf = 0;

    *out = NULL;
    if (sample_rate <= 0 || n_mels <= 0 || n_mels > 1024)
        return SIEVE_EINVAL;
    mb = calloc(1, sizeof *mb);
    if (!mb)
        return SIEVE_ENOMEM;
    mb->rate = sample_rate;
    mb->n_mels = n_mels;
    /* Radix 4 first keeps the tree shallow; 400 = 4 * 4 * 5 * 5. */
    for (int p = 4; n > 1 && nf < MAX_FACTORS;) {
        if (n % p == 0) {
            mb->factors[nf++] = p;
            n /= p;
        } else {
            p = p == 4 ? 2 : p == 2 ? 3 : p + 2;
            if (p > MAX_RADIX)
                break;
        }
    }
    if (n != 1) {
        free(mb);
        return SIEVE_EINVAL; /* MEL_N_FFT must factor into 2, 3, 4 and 5 */
    }
    for (int i = 0; i < MEL_N_FFT; i++) {
        double a = -TWO_PI * i / MEL_N_FFT;
        mb->twiddle[i].re = cos(a);
        mb->twiddle[i].im = sin(a);
        /* Periodic Hann: torch.hann_window(400) = np.hanning(401)[:-1]. */
        mb->window[i] = 0.5 - 0.5 * cos(TWO_PI * i / MEL_N_FFT);
    }
    mb->filters = calloc((size_t)n_mels * MEL_N_BINS, sizeof *mb->filters);
    mb->bands = calloc((size_t)n_mels, sizeof *mb->bands);
    if (!mb->filters || !mb->bands || build_filters(mb) < 0) {
        mel_bank_free(mb);
        return SIEVE_ENOMEM;
    }
    *out = mb;
    return 0;
}

void
mel_bank_free(struct mel_bank *mb)
{
    if (!mb)
        return;
    free(mb->filters);
    free(mb->bands);
    free(mb);
}

int
mel_bank_bands(const struct mel_bank *mb)
{
    return mb->n_mels;
}

const double *
mel_bank_filters(const struct mel_bank *mb)
{
    return mb->filters;
}

int64_t
mel_frame_count(int64_t n_samples)
{
    return n_samples > 0 ? (n_samples + MEL_HOP - 1) / MEL_HOP : 0;
}

/*
 * out[0..n-1] = DFT of in[0], in[stride], ... (n points). `tws` is the twiddle stride that
 * makes tw[j * tws] = exp(-2 pi i j / n).
 */
static void
fft_rec(const struct cpx *in, size_t stride, struct cpx *out, int n, const int *factors,
        const struct cpx *tw, int tws)
{
    const int p = factors[0], m = n / p;
    struct cpx t[MAX_RADIX];

    if (m == 1) {
        for (int q = 0; q < p; q++)
            t[q] = in[(size_t)q * stride];
    } else {
        for (int q = 0; q < p; q++)
            fft_rec(in + (size_t)q * stride, stride * (size_t)p, out + q * m, m, factors + 1, tw,
                    tws * p);
    }
    for (int k = 0; k < m; k++) {
        if (m > 1) {
            /* t_q = (sub-DFT q at k) * W_n^(q k) */
            for (int q = 0; q < p; q++) {
                struct cpx x = out[q * m + k], w = tw[(q * k * tws) % MEL_N_FFT];
                t[q].re = x.re * w.re - x.im * w.im;
                t[q].im = x.re * w.im + x.im * w.re;
            }
        }
        for (int r = 0; r < p; r++) {
            struct cpx acc = t[0];
            for (int q = 1; q < p; q++) {
                struct cpx w = tw[((q * r) % p) * (MEL_N_FFT / p)];
                acc.re += t[q].re * w.re - t[q].im * w.im;
                acc.im += t[q].re * w.im + t[q].im * w.re;
            }
            out[r * m + k] = acc;
        }
    }
}

/* Index into x[0..n-1] of padded position i, reflecting without repeating the edge (numpy). */
static int64_t
reflect(int64_t i, int64_t n)
{
    int64_t period;
    if (n == 1)
        return 0;
    period = 2 * (n - 1);
    i %= period;
    if (i < 0)
        i += period;
    return i < n ? i : period - i;
}

int64_t
mel_compute(const struct mel_bank *mb, const float *x, int64_t n, float *out)
{
    const int64_t frames = mel_frame_count(n);
    const int nm = mb->n_mels, pad = MEL_N_FFT / 2;
    struct cpx frame[MEL_N_FFT], spec[MEL_N_FFT];
    double power[MEL_N_BINS];
    float vmax = -INFINITY, vfloor;

    for (int64_t t = 0; t < frames; t++) {
        int64_t s0 = t * MEL_HOP - pad;
        if (s0 >= 0 && s0 + MEL_N_FFT <= n) {
            for (int i = 0; i < MEL_N_FFT; i++) {
                frame[i].re = mb->window[i] * x[s0 + i];
                frame[i].im = 0.0;
            }
        } else {
            for (int i = 0; i < MEL_N_FFT; i++) {
                frame[i].re = mb->window[i] * x[reflect(s0 + i, n)];
                frame[i].im = 0.0;
            }
        }
        fft_rec(frame, 1, spec, MEL_N_FFT, mb->factors, mb->twiddle, 1);
        for (int k = 0; k < MEL_N_BINS; k++)
            power[k] = spec[k].re * spec[k].re + spec[k].im * spec[k].im;
        for (int b = 0; b < nm; b++) {
            const double *row = mb->filters + (size_t)b * MEL_N_BINS;
            const int k0 = mb->bands[b].first, kn = k0 + mb->bands[b].count;
            double acc = 0.0;
            float v;
            for (int k = k0; k < kn; k++)
                acc += row[k] * power[k];
            v = (float)log10(acc > 1e-10 ? acc : 1e-10);
            out[(size_t)b * (size_t)frames + (size_t)t] = v;
            if (v > vmax)
                vmax = v;
        }
    }
    vfloor = vmax - 8.0f;
    for (int64_t i = 0; i < frames * nm; i++) {
        float v = out[i] > vfloor ? out[i] : vfloor;
        out[i] = (v + 4.0f) / 4.0f;
    }
    return frames;
}
