// HAL JPEG encoder harness: proves byte-identical output across changes to HAL/hal_jpeg.c, and times the HAL
// alone (no Swift, no I/O) against `tjbench -yuv`.
//
//   cc -O2 -I HAL/include HAL/hal_jpeg.c bench/encode_harness.c -ljpeg -o /tmp/encode_harness
//   /tmp/encode_harness digest [-v]       # the digest of all cases' JPEGs (-v: one SHA-256 line per case)
//   /tmp/encode_harness bench FILE W H FORMAT QUALITY SECONDS [FRAMES]
//       encodes the frames of a raw file (FORMAT yuyv|i420|nv12; FRAMES: how many of the file's frames to
//       cycle through, 1 = one frame kept hot in the cache as tjbench does; SECONDS as "300f": exactly 300
//       frames, for `perf stat`), prints frames per second (wall clock)
//
// Built with -DWITH_TURBOJPEG and linked with /usr/lib/x86_64-linux-gnu/libturbojpeg.so.0 (no header needed):
//   /tmp/encode_harness tj FILE W H QUALITY SECONDS [FRAMES [accurate]]
//       the same YUYV frames, de-interleaved to planar 4:2:2 before the clock starts, compressed by
//       tjCompressFromYUVPlanes (what `tjbench -yuv` times): the library's limit on exactly our data
//   /tmp/encode_harness vs FILE W H QUALITY ROUNDS [FRAMES [accurate]]
//       the HAL and tjCompressFromYUVPlanes in turns on the same frames, timed by thread CPU time (robust to
//       other load): medians, the HAL/TurboJPEG speed ratio, and how many outputs were byte-identical
//   /tmp/encode_harness source FILE W H QUALITY PASSES
//       what handing a raw file's frames to the encoder costs: mapped as FileSource does (MAP_PRIVATE,
//       MADV_DONTNEED after each frame), the same with MADV_POPULATE_READ first, pread into one buffer,
//       frames already in memory, or mapped and never dropped; per-frame thread CPU time (faults included)
// (HARNESS_WRITE=path keeps the last JPEG of bench and tj, to compare bytes.)
//   /tmp/encode_harness ppm2yuyv IN.ppm OUT.yuv
//       the planar 4:2:2 that `tjbench -yuv` makes of a PPM (tjEncodeYUVPlanes), re-interleaved as YUYV, so
//       the HAL can be timed on exactly tjbench's data
//
// The digest cases are synthetic frames (a gradient with seeded noise, so the entropy coder sees
// camera-like data) in every format, widths that are and are not multiples of the MCU (and whose chroma
// width is odd), heights that are not a multiple of the iMCU height, tight and padded strides (padding
// filled with 0xA5), qualities 50, 85 and 95, with and without a comment.
#define _GNU_SOURCE
#include "hal_jpeg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef WITH_TURBOJPEG
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

// ---- SHA-256 (FIPS 180-4), small and slow, only for the digests ----

typedef struct {
    uint32_t h[8];
    uint8_t block[64];
    size_t fill;
    uint64_t bits;
} sha256;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(sha256 *s, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha_init(sha256 *s) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->fill = 0;
    s->bits = 0;
}

static void sha_update(sha256 *s, const uint8_t *p, size_t n) {
    s->bits += (uint64_t)n * 8;
    while (n--) {
        s->block[s->fill++] = *p++;
        if (s->fill == 64) { sha_block(s, s->block); s->fill = 0; }
    }
}

static void sha_final(sha256 *s, char hex[65]) {
    uint64_t bits = s->bits;
    uint8_t pad = 0x80, zero = 0, len[8];
    sha_update(s, &pad, 1);
    while (s->fill != 56) sha_update(s, &zero, 1);
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(s, len, 8);
    for (int i = 0; i < 8; i++) sprintf(hex + 8 * i, "%08x", s->h[i]);
}

// ---- synthetic frames ----

static uint32_t rng_state;
static uint8_t noisy(int base) {
    rng_state = rng_state * 1664525u + 1013904223u;
    int v = base + (int)((rng_state >> 24) % 81) - 40;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Fills a frame of the given geometry; bytes past each line's pixels (stride padding) get 0xA5 garbage.
static void fill_frame(uint8_t *buf, size_t size, uint32_t w, uint32_t h, uint32_t stride, hal_pixfmt f, uint32_t seed) {
    memset(buf, 0xA5, size);
    rng_state = seed;
    if (f == HAL_PIX_YUYV) {
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x += 2) {
                uint8_t *p = buf + (size_t)y * stride + 2 * x;
                p[0] = noisy((int)(x * 255 / w));
                p[1] = noisy((int)(y * 255 / h));
                p[2] = noisy((int)((x + 1) * 255 / w));
                p[3] = noisy(128 + (int)((x + y) % 64) - 32);
            }
        return;
    }
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) buf[(size_t)y * stride + x] = noisy((int)((x + y) * 255 / (w + h)));
    uint8_t *c = buf + (size_t)stride * h;
    if (f == HAL_PIX_I420) {
        uint32_t cs = stride / 2;
        for (int plane = 0; plane < 2; plane++, c += (size_t)cs * (h / 2))
            for (uint32_t y = 0; y < h / 2; y++)
                for (uint32_t x = 0; x < w / 2; x++) c[(size_t)y * cs + x] = noisy(plane ? (int)(y * 510 / h) : (int)(x * 510 / w));
    } else {
        for (uint32_t y = 0; y < h / 2; y++)
            for (uint32_t x = 0; x < w / 2; x++) {
                c[(size_t)y * stride + 2 * x] = noisy((int)(x * 510 / w));
                c[(size_t)y * stride + 2 * x + 1] = noisy((int)(y * 510 / h));
            }
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// HARNESS_WRITE=path keeps the last JPEG a bench encoded, to compare the HAL's bytes with TurboJPEG's.
static void write_last(const uint8_t *jpeg, size_t length) {
    const char *path = getenv("HARNESS_WRITE");
    FILE *f = path ? fopen(path, "wb") : NULL;
    if (f) { fwrite(jpeg, 1, length, f); fclose(f); }
}

static hal_pixfmt parse_format(const char *s) {
    if (!strcmp(s, "yuyv")) return HAL_PIX_YUYV;
    if (!strcmp(s, "i420")) return HAL_PIX_I420;
    if (!strcmp(s, "nv12")) return HAL_PIX_NV12;
    return 0;
}

static int digest(int verbose) {
    static const struct { uint32_t w, h; } sizes[] = {
        {1920, 1080}, {1280, 720}, {1282, 722}, {640, 480}, {100, 36}, {18, 16}, {46, 30}};
    static const hal_pixfmt formats[] = {HAL_PIX_YUYV, HAL_PIX_I420, HAL_PIX_NV12};
    static const char *names[] = {"", "yuyv", "i420", "nv12"};
    static const int qualities[] = {50, 85, 95};
    sha256 all;
    sha_init(&all);
    int cases = 0, failures = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (size_t fi = 0; fi < 3; fi++)
            for (int pad = 0; pad < 3; pad++) {
                uint32_t w = sizes[si].w, h = sizes[si].h;
                hal_pixfmt f = formats[fi];
                uint32_t minimum = f == HAL_PIX_YUYV ? 2 * w : w;
                // tight; padded to 64 (as V4L2 drivers do); padded by an odd-looking 6 bytes (I420 needs even)
                uint32_t stride = pad == 0 ? minimum : pad == 1 ? (minimum + 63) / 64 * 64 + 64 : minimum + 6;
                size_t size = hal_jpeg_source_size(h, stride, f);
                uint8_t *src = malloc(size), *copy = malloc(size);
                size_t cap = size + 65536;
                uint8_t *out = malloc(cap);
                for (size_t qi = 0; qi < 3; qi++) {
                    hal_jpeg_encoder *enc = hal_jpeg_encoder_create(w, h, stride, f, qualities[qi]);
                    if (!enc) { printf("create failed %ux%u %s stride %u\n", w, h, names[f], stride); failures++; continue; }
                    for (uint32_t frame = 0; frame < 2; frame++) {
                        fill_frame(src, size, w, h, stride, f, 1234567u + (uint32_t)si * 7919u + frame * 104729u + (uint32_t)qi);
                        memcpy(copy, src, size);
                        const char comment[] = "dev=harness seq=1 utc=2026-11-28T00:00:00Z";
                        size_t len = 0;
                        hal_status st = hal_jpeg_encode(enc, src, size, frame ? (const uint8_t *)comment : NULL,
                                                        frame ? sizeof comment - 1 : 0, out, cap, &len);
                        if (st != HAL_OK) { printf("encode failed %d: %s\n", st, hal_jpeg_last_error(enc)); failures++; continue; }
                        if (memcmp(copy, src, size)) { printf("encode wrote into its source\n"); failures++; }
                        sha256 one;
                        char hex[65];
                        sha_init(&one);
                        sha_update(&one, out, len);
                        sha_final(&one, hex);
                        sha_update(&all, out, len);
                        if (verbose)
                            printf("%4ux%-4u %s stride %5u q%d frame %u: %7zu bytes %s\n", w, h, names[f], stride, qualities[qi], frame, len, hex);
                        cases++;
                    }
                    // a buffer too small must fail cleanly, and the encoder must still work afterwards
                    size_t len = 0;
                    if (hal_jpeg_encode(enc, src, size, NULL, 0, out, 600, &len) != HAL_ERR_OUTPUT_TOO_SMALL) { printf("small buffer not refused\n"); failures++; }
                    if (hal_jpeg_encoder_heap_fallbacks(enc) != 0) { printf("heap fallbacks\n"); failures++; }
                    hal_jpeg_encoder_destroy(enc);
                }
                free(src); free(copy); free(out);
            }
    // odd widths and heights are refused
    if (hal_jpeg_encoder_create(1919, 1080, 3840, HAL_PIX_YUYV, 85) || hal_jpeg_encoder_create(1920, 1079, 3840, HAL_PIX_YUYV, 85)) {
        printf("odd geometry accepted\n");
        failures++;
    }
    char hex[65];
    sha_final(&all, hex);
    printf("%d cases, %d failures, all: %s\n", cases, failures, hex);
    return failures ? 1 : 0;
}

static int bench(int argc, char **argv) {
    if (argc < 8) { fprintf(stderr, "bench FILE W H FORMAT QUALITY SECONDS [FRAMES]\n"); return 64; }
    uint32_t w = (uint32_t)atoi(argv[3]), h = (uint32_t)atoi(argv[4]);
    hal_pixfmt f = parse_format(argv[5]);
    int q = atoi(argv[6]);
    double seconds = atof(argv[7]);
    long frame_limit = strchr(argv[7], 'f') ? atol(argv[7]) : 0; // "300f": exactly 300 frames (for perf stat)
    uint32_t stride = f == HAL_PIX_YUYV ? 2 * w : w;
    size_t size = hal_jpeg_source_size(h, stride, f);
    FILE *file = fopen(argv[2], "rb");
    if (!file || !f) { fprintf(stderr, "cannot open %s or bad format\n", argv[2]); return 1; }
    size_t want = argc > 8 ? (size_t)atoi(argv[8]) : 60;
    uint8_t *frames = malloc(size * want);
    size_t n = 0;
    while (n < want && fread(frames + n * size, 1, size, file) == size) n++;
    fclose(file);
    if (!n) { fprintf(stderr, "no whole frame in file\n"); return 1; }
    hal_jpeg_encoder *enc = hal_jpeg_encoder_create(w, h, stride, f, q);
    size_t cap = size + 65536;
    uint8_t *out = malloc(cap);
    memset(out, 0, cap);
    size_t len = 0, bytes = 0;
    for (size_t i = 0; i < n; i++) hal_jpeg_encode(enc, frames + i * size, size, NULL, 0, out, cap, &len); // warm-up
    long count = 0;
    double t0 = now(), t;
    do {
        if (hal_jpeg_encode(enc, frames + (size_t)(count % (long)n) * size, size, NULL, 0, out, cap, &len) != HAL_OK) return 1;
        bytes += len;
        count++;
    } while ((t = now() - t0), frame_limit ? count < frame_limit : t < seconds);
    write_last(out, len);
    printf("%s %ux%u q%d frames %zu: %.2f fps, %.0f bytes/frame\n", argv[5], w, h, q, n, (double)count / t, (double)bytes / (double)count);
    hal_jpeg_encoder_destroy(enc);
    return 0;
}

#ifdef WITH_TURBOJPEG
// The few TurboJPEG 2.x entry points used, declared here (libturbojpeg0-dev is not needed).
typedef void *tjhandle;
tjhandle tjInitCompress(void);
int tjDestroy(tjhandle handle);
char *tjGetErrorStr(void);
unsigned long tjBufSize(int width, int height, int subsamp);
int tjCompressFromYUVPlanes(tjhandle handle, const unsigned char **planes, int width, const int *strides, int height,
                            int subsamp, unsigned char **jpeg, unsigned long *size, int quality, int flags);
int tjEncodeYUVPlanes(tjhandle handle, const unsigned char *src, int width, int pitch, int height, int pixel_format,
                      unsigned char **planes, int *strides, int subsamp, int flags);
enum { TJSAMP_422 = 1, TJPF_RGB = 0, TJFLAG_NOREALLOC = 1024, TJFLAG_ACCURATEDCT = 4096 };

static void deinterleave(const uint8_t *s, uint32_t w, uint32_t h, uint8_t *y, uint8_t *u, uint8_t *v) {
    for (size_t i = 0; i < (size_t)w * h / 2; i++) {
        y[2 * i] = s[4 * i]; u[i] = s[4 * i + 1]; y[2 * i + 1] = s[4 * i + 2]; v[i] = s[4 * i + 3];
    }
}

static int tj_bench(int argc, char **argv) {
    if (argc < 7) { fprintf(stderr, "tj FILE W H QUALITY SECONDS [FRAMES [accurate|default]]\n"); return 64; }
    // TurboJPEG 2.x uses the fast integer DCT below quality 96 unless told otherwise (tjbench -accuratedct);
    // the HAL uses the accurate one (JDCT_ISLOW), so only `accurate` compares like with like.
    const int accurate = argc > 8 && !strcmp(argv[8], "accurate");
    uint32_t w = (uint32_t)atoi(argv[3]), h = (uint32_t)atoi(argv[4]);
    int q = atoi(argv[5]);
    double seconds = atof(argv[6]);
    long frame_limit = strchr(argv[6], 'f') ? atol(argv[6]) : 0;
    size_t want = argc > 7 ? (size_t)atoi(argv[7]) : 60, size = (size_t)w * h * 2, n = 0;
    uint8_t *raw = malloc(size), *planar = malloc(size * want);
    FILE *file = fopen(argv[2], "rb");
    if (!file) return 1;
    while (n < want && fread(raw, 1, size, file) == size) {
        uint8_t *p = planar + n * size;
        deinterleave(raw, w, h, p, p + (size_t)w * h, p + (size_t)w * h * 3 / 2);
        n++;
    }
    fclose(file);
    tjhandle tj = tjInitCompress();
    unsigned long cap = tjBufSize((int)w, (int)h, TJSAMP_422), len = cap, bytes = 0;
    unsigned char *out = malloc(cap);
    const int strides[3] = {(int)w, (int)w / 2, (int)w / 2};
    long count = 0;
    double t0 = 0, t;
    for (long i = -(long)n;; i++) { // the first pass over the frames is the warm-up
        if (i == 0) t0 = now();
        uint8_t *p = planar + (size_t)((i + (long)n) % (long)n) * size;
        const unsigned char *planes[3] = {p, p + (size_t)w * h, p + (size_t)w * h * 3 / 2};
        len = cap;
        if (tjCompressFromYUVPlanes(tj, planes, (int)w, strides, (int)h, TJSAMP_422, &out, &len, q, TJFLAG_NOREALLOC | (accurate ? TJFLAG_ACCURATEDCT : 0))) {
            fprintf(stderr, "%s\n", tjGetErrorStr());
            return 1;
        }
        if (i < 0) continue;
        bytes += len;
        count++;
        t = now() - t0;
        if (frame_limit ? count >= frame_limit : t >= seconds) break;
    }
    write_last(out, len);
    printf("tj%s %ux%u q%d frames %zu: %.2f fps, %.0f bytes/frame\n", accurate ? "-accurate" : "", w, h, q, n, (double)count / t, (double)bytes / (double)count);
    tjDestroy(tj);
    return 0;
}

// HAL and TurboJPEG in turns on the same frames, each timed by this thread's CPU clock, so that other load
// on a shared machine falls on both alike: per-frame medians and their ratio.
static double thread_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int vs_bench(int argc, char **argv) {
    if (argc < 7) { fprintf(stderr, "vs FILE W H QUALITY ROUNDS [FRAMES [accurate]]\n"); return 64; }
    uint32_t w = (uint32_t)atoi(argv[3]), h = (uint32_t)atoi(argv[4]);
    int q = atoi(argv[5]), rounds = atoi(argv[6]);
    size_t want = argc > 7 ? (size_t)atoi(argv[7]) : 1, size = (size_t)w * h * 2, n = 0;
    const int accurate = argc > 8 && !strcmp(argv[8], "accurate");
    uint8_t *raw = malloc(size * want), *planar = malloc(size * want);
    FILE *file = fopen(argv[2], "rb");
    if (!file || rounds < 2) return 1;
    while (n < want && fread(raw + n * size, 1, size, file) == size) {
        uint8_t *p = planar + n * size;
        deinterleave(raw + n * size, w, h, p, p + (size_t)w * h, p + (size_t)w * h * 3 / 2);
        n++;
    }
    fclose(file);
    if (!n) return 1;
    hal_jpeg_encoder *enc = hal_jpeg_encoder_create(w, h, 2 * w, HAL_PIX_YUYV, q);
    tjhandle tj = tjInitCompress();
    unsigned long cap = tjBufSize((int)w, (int)h, TJSAMP_422), tj_len = 0;
    unsigned char *out_tj = malloc(cap), *out_hal = malloc(cap);
    memset(out_tj, 0, cap);
    memset(out_hal, 0, cap);
    const int strides[3] = {(int)w, (int)w / 2, (int)w / 2};
    double *t_hal = malloc(sizeof(double) * (size_t)rounds), *t_tj = malloc(sizeof(double) * (size_t)rounds);
    double bytes_hal = 0, bytes_tj = 0;
    int same = 0;
    for (int r = -2; r < rounds; r++) { // two rounds of warm-up
        size_t i = (size_t)(r + 2) % n, hal_len = 0;
        uint8_t *p = planar + i * size;
        const unsigned char *planes[3] = {p, p + (size_t)w * h, p + (size_t)w * h * 3 / 2};
        double t0, t1, t2;
        for (int k = 0; k < 2; k++) { // alternate which goes first
            if ((k == 0) == ((r & 1) == 0)) {
                t0 = thread_cpu();
                hal_jpeg_encode(enc, raw + i * size, size, NULL, 0, out_hal, cap, &hal_len);
                t1 = thread_cpu();
                if (r >= 0) t_hal[r] = t1 - t0;
            } else {
                tj_len = cap;
                t1 = thread_cpu();
                tjCompressFromYUVPlanes(tj, planes, (int)w, strides, (int)h, TJSAMP_422, &out_tj, &tj_len, q,
                                        TJFLAG_NOREALLOC | (accurate ? TJFLAG_ACCURATEDCT : 0));
                t2 = thread_cpu();
                if (r >= 0) t_tj[r] = t2 - t1;
            }
        }
        if (r < 0) continue;
        bytes_hal += (double)hal_len;
        bytes_tj += (double)tj_len;
        same += hal_len == tj_len && !memcmp(out_hal, out_tj, hal_len);
    }
    qsort(t_hal, (size_t)rounds, sizeof(double), compare_doubles);
    qsort(t_tj, (size_t)rounds, sizeof(double), compare_doubles);
    double mh = t_hal[rounds / 2], mt = t_tj[rounds / 2];
    printf("vs %ux%u q%d frames %zu, tj %s DCT: HAL %.3f ms (%.1f fps), TurboJPEG %.3f ms (%.1f fps), HAL/TJ speed %.3f;"
           " %.0f vs %.0f bytes/frame, identical %d/%d\n", w, h, q, n, accurate ? "accurate" : "default", mh * 1e3,
           1 / mh, mt * 1e3, 1 / mt, mt / mh, bytes_hal / rounds, bytes_tj / rounds, same, rounds);
    return 0;
}

// How the way a raw file is handed to the encoder costs, per frame (thread CPU time, faults included):
//   map:      mapped MAP_PRIVATE, each frame's pages dropped with MADV_DONTNEED after use (FileSource today)
//   populate: the same, with the frame's page tables filled by one MADV_POPULATE_READ before encoding
//   pread:    read into one reused, preallocated buffer
//   memory:   frames already in memory (the encoder alone)
//   keep:     mapped, pages left mapped (no MADV_DONTNEED: faults only, no teardown)
static int source_bench(int argc, char **argv) {
    if (argc < 7) { fprintf(stderr, "source FILE W H QUALITY PASSES\n"); return 64; }
    uint32_t w = (uint32_t)atoi(argv[3]), h = (uint32_t)atoi(argv[4]);
    int q = atoi(argv[5]), passes = atoi(argv[6]);
    size_t size = (size_t)w * h * 2, page = (size_t)sysconf(_SC_PAGESIZE);
    int fd = open(argv[2], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) return 1;
    size_t file_size = (size_t)st.st_size, frames = file_size / size;
    uint8_t *map = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED || !frames) return 1;
    madvise(map, file_size, MADV_SEQUENTIAL);
    munmap(map, file_size);
    hal_jpeg_encoder *enc = hal_jpeg_encoder_create(w, h, 2 * w, HAL_PIX_YUYV, q);
    size_t cap = size;
    uint8_t *out = malloc(cap), *buffer = aligned_alloc(64, size), *memory = malloc(size * 30);
    memset(out, 0, cap);
    memset(buffer, 0, size);
    for (size_t i = 0; i < 30 && i < frames; i++)
        if (pread(fd, memory + i * size, size, (off_t)(i * size)) != (ssize_t)size) return 1;
    static const char *names[] = {"map", "populate", "pread", "memory", "keep"};
    double *t = malloc(sizeof(double) * frames), median[5][64];
    if (passes > 64) passes = 64;
    for (int pass = 0; pass < passes; pass++)
        for (int kind = 0; kind < 5; kind++) {
            map = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
            madvise(map, file_size, MADV_SEQUENTIAL);
            for (size_t i = 0; i < frames; i++) {
                size_t len = 0, start = i * size / page * page, end = ((i + 1) * size + page - 1) / page * page;
                if (end > file_size) end = file_size;
                double t0 = thread_cpu();
                const uint8_t *frame = map + i * size;
                if (kind == 1) {
#ifdef MADV_POPULATE_READ
                    madvise(map + start, end - start, MADV_POPULATE_READ);
#endif
                } else if (kind == 2) {
                    if (pread(fd, buffer, size, (off_t)(i * size)) != (ssize_t)size) return 1;
                    frame = buffer;
                } else if (kind == 3) {
                    frame = memory + (i % 30) * size;
                }
                hal_jpeg_encode(enc, frame, size, NULL, 0, out, cap, &len);
                if (kind < 2) madvise(map + start, end - start, MADV_DONTNEED);
                t[i] = thread_cpu() - t0;
            }
            munmap(map, file_size);
            qsort(t, frames, sizeof(double), compare_doubles);
            median[kind][pass] = t[frames / 2];
        }
    for (int kind = 0; kind < 5; kind++) {
        qsort(median[kind], (size_t)passes, sizeof(double), compare_doubles);
        printf("source %-8s %.3f ms/frame (median of %d passes over %zu frames)\n", names[kind],
               median[kind][passes / 2] * 1e3, passes, frames);
    }
    close(fd);
    return 0;
}

static int ppm2yuyv(int argc, char **argv) {
    if (argc < 4) return 64;
    FILE *in = fopen(argv[2], "rb");
    int w, h, max;
    if (!in || fscanf(in, "P6 %d %d %d", &w, &h, &max) != 3 || fgetc(in) == EOF) return 1;
    uint8_t *rgb = malloc((size_t)w * h * 3), *y = malloc((size_t)w * h), *u = malloc((size_t)w * h / 2),
            *v = malloc((size_t)w * h / 2), *yuyv = malloc((size_t)w * h * 2);
    if (fread(rgb, 1, (size_t)w * h * 3, in) != (size_t)w * h * 3) return 1;
    fclose(in);
    unsigned char *planes[3] = {y, u, v};
    int strides[3] = {w, w / 2, w / 2};
    tjhandle tj = tjInitCompress();
    if (tjEncodeYUVPlanes(tj, rgb, w, 0, h, TJPF_RGB, planes, strides, TJSAMP_422, 0)) return 1;
    for (size_t i = 0; i < (size_t)w * h / 2; i++) {
        yuyv[4 * i] = y[2 * i]; yuyv[4 * i + 1] = u[i]; yuyv[4 * i + 2] = y[2 * i + 1]; yuyv[4 * i + 3] = v[i];
    }
    FILE *out = fopen(argv[3], "wb");
    if (!out || fwrite(yuyv, 1, (size_t)w * h * 2, out) != (size_t)w * h * 2) return 1;
    fclose(out);
    tjDestroy(tj);
    return 0;
}
#endif

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "digest")) return digest(argc > 2);
    if (argc >= 2 && !strcmp(argv[1], "bench")) return bench(argc, argv);
#ifdef WITH_TURBOJPEG
    if (argc >= 2 && !strcmp(argv[1], "tj")) return tj_bench(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "ppm2yuyv")) return ppm2yuyv(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "vs")) return vs_bench(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "source")) return source_bench(argc, argv);
#endif
    fprintf(stderr, "usage: %s digest [-v] | bench FILE W H FORMAT QUALITY SECONDS [FRAMES]\n", argv[0]);
    return 64;
}
