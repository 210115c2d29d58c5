// HAL JPEG encoder: libjpeg(-turbo) raw-data compression into a caller-owned buffer.
// See include/hal_jpeg.h for the contract.
#include "hal_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

// libjpeg reports errors by calling error_exit, which by default calls exit(). We longjmp back instead.
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
} hal_error_mgr;

// Rows handed to jpeg_write_raw_data per call: one iMCU row (8 lines for 4:2:2, 16 for 4:2:0).
#define HAL_MAX_MCU_ROWS 16
#define HAL_ALIGN 64

struct hal_jpeg_encoder {
    struct jpeg_compress_struct cinfo;
    hal_error_mgr err;
    struct jpeg_destination_mgr dest;
    char message[JMSG_LENGTH_MAX];

    uint32_t width, height, stride;
    hal_pixfmt format;
    uint32_t mcu_rows;      // lines per jpeg_write_raw_data call
    uint32_t padded_width;  // luma width rounded up to the MCU width (16)

    // Output buffer of the frame being encoded (owned by the caller).
    uint8_t *output;
    size_t output_capacity;
    int output_overflow;

    // Planar rows handed to libjpeg. YUYV is de-interleaved into these buffers; I420 rows point into the
    // source where its layout allows, else into these buffers (odd widths need edge padding).
    uint8_t *plane_buffer;
    JSAMPROW y_rows[HAL_MAX_MCU_ROWS], u_rows[HAL_MAX_MCU_ROWS / 2], v_rows[HAL_MAX_MCU_ROWS / 2];

    // libjpeg's JPOOL_IMAGE allocations (made at every jpeg_start_compress and freed at
    // jpeg_finish_compress) come from this bump arena instead of malloc. Reset when libjpeg frees the pool.
    uint8_t *arena;
    size_t arena_size, arena_used;
    uint64_t heap_fallbacks;
    void *(*default_alloc_small)(j_common_ptr, int, size_t);
    void *(*default_alloc_large)(j_common_ptr, int, size_t);
    JSAMPARRAY (*default_alloc_sarray)(j_common_ptr, int, JDIMENSION, JDIMENSION);
    JBLOCKARRAY (*default_alloc_barray)(j_common_ptr, int, JDIMENSION, JDIMENSION);
    void (*default_free_pool)(j_common_ptr, int);
};

static size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

// The encoder struct starts with cinfo, so libjpeg's common pointer is the encoder pointer.
static hal_jpeg_encoder *encoder_of(j_common_ptr cinfo) { return (hal_jpeg_encoder *)cinfo; }

// ---- error handling ----

static void hal_error_exit(j_common_ptr cinfo) {
    hal_jpeg_encoder *enc = encoder_of(cinfo);
    (*cinfo->err->format_message)(cinfo, enc->message);
    longjmp(enc->err.jump, 1);
}

static void hal_output_message(j_common_ptr cinfo) {
    // Warnings are not printed: the HAL has no business writing to stderr. Keep the last one.
    (*cinfo->err->format_message)(cinfo, encoder_of(cinfo)->message);
}

// ---- fixed output buffer destination ----

static void dest_init(j_compress_ptr cinfo) {
    hal_jpeg_encoder *enc = encoder_of((j_common_ptr)cinfo);
    enc->dest.next_output_byte = enc->output;
    enc->dest.free_in_buffer = enc->output_capacity;
}

static boolean dest_empty(j_compress_ptr cinfo) {
    // The caller's buffer is full: there is no second buffer to give, so abandon this frame.
    hal_jpeg_encoder *enc = encoder_of((j_common_ptr)cinfo);
    enc->output_overflow = 1;
    longjmp(enc->err.jump, 1);
    return FALSE;
}

static void dest_term(j_compress_ptr cinfo) { (void)cinfo; }

// ---- per-image pool from a preallocated arena ----

static void *arena_take(hal_jpeg_encoder *enc, size_t size) {
    size_t start = align_up(enc->arena_used, HAL_ALIGN);
    if (start + size > enc->arena_size) return NULL;
    enc->arena_used = start + size;
    return enc->arena + start;
}

static void *pool_alloc_small(j_common_ptr cinfo, int pool_id, size_t size) {
    hal_jpeg_encoder *enc = encoder_of(cinfo);
    if (pool_id == JPOOL_IMAGE) {
        void *p = arena_take(enc, size);
        if (p) return p;
        enc->heap_fallbacks++;
    }
    return enc->default_alloc_small(cinfo, pool_id, size);
}

static void *pool_alloc_large(j_common_ptr cinfo, int pool_id, size_t size) {
    hal_jpeg_encoder *enc = encoder_of(cinfo);
    if (pool_id == JPOOL_IMAGE) {
        void *p = arena_take(enc, size);
        if (p) return p;
        enc->heap_fallbacks++;
    }
    return enc->default_alloc_large(cinfo, pool_id, size);
}

// libjpeg's own sarray/barray call its private allocators directly, so they are replaced too.
static JSAMPARRAY pool_alloc_sarray(j_common_ptr cinfo, int pool_id, JDIMENSION per_row, JDIMENSION rows) {
    hal_jpeg_encoder *enc = encoder_of(cinfo);
    if (pool_id == JPOOL_IMAGE) {
        size_t row_bytes = align_up((size_t)per_row * sizeof(JSAMPLE), HAL_ALIGN);
        size_t used = enc->arena_used;
        JSAMPARRAY array = arena_take(enc, rows * sizeof(JSAMPROW));
        uint8_t *block = array ? arena_take(enc, row_bytes * rows) : NULL;
        if (array && block) {
            for (JDIMENSION r = 0; r < rows; r++) array[r] = (JSAMPROW)(block + r * row_bytes);
            return array;
        }
        enc->arena_used = used;
        enc->heap_fallbacks++;
    }
    return enc->default_alloc_sarray(cinfo, pool_id, per_row, rows);
}

static JBLOCKARRAY pool_alloc_barray(j_common_ptr cinfo, int pool_id, JDIMENSION per_row, JDIMENSION rows) {
    hal_jpeg_encoder *enc = encoder_of(cinfo);
    if (pool_id == JPOOL_IMAGE) {
        size_t row_bytes = align_up((size_t)per_row * sizeof(JBLOCK), HAL_ALIGN);
        size_t used = enc->arena_used;
        JBLOCKARRAY array = arena_take(enc, rows * sizeof(JBLOCKROW));
        uint8_t *block = array ? arena_take(enc, row_bytes * rows) : NULL;
        if (array && block) {
            for (JDIMENSION r = 0; r < rows; r++) array[r] = (JBLOCKROW)(block + r * row_bytes);
            return array;
        }
        enc->arena_used = used;
        enc->heap_fallbacks++;
    }
    return enc->default_alloc_barray(cinfo, pool_id, per_row, rows);
}

static void pool_free(j_common_ptr cinfo, int pool_id) {
    hal_jpeg_encoder *enc = encoder_of(cinfo);
    if (pool_id == JPOOL_IMAGE) enc->arena_used = 0;
    enc->default_free_pool(cinfo, pool_id);
}

// ---- public API ----

size_t hal_jpeg_source_size(uint32_t height, uint32_t stride, hal_pixfmt format) {
    switch (format) {
    case HAL_PIX_YUYV: return (size_t)stride * height;
    case HAL_PIX_I420: return (size_t)stride * height + 2 * ((size_t)(stride / 2) * (height / 2));
    case HAL_PIX_NV12: return (size_t)stride * height + (size_t)stride * (height / 2);
    }
    return 0;
}

uint64_t hal_jpeg_encoder_heap_fallbacks(const hal_jpeg_encoder *enc) { return enc ? enc->heap_fallbacks : 0; }

const char *hal_jpeg_last_error(const hal_jpeg_encoder *enc) { return enc ? enc->message : ""; }

hal_status hal_jpeg_encoder_set_quality(hal_jpeg_encoder *enc, int quality) {
    if (!enc || quality < 1 || quality > 100) return HAL_ERR_ARGUMENT;
    if (setjmp(enc->err.jump)) return HAL_ERR_LIBJPEG;
    jpeg_set_quality(&enc->cinfo, quality, TRUE);
    return HAL_OK;
}

hal_jpeg_encoder *hal_jpeg_encoder_create(uint32_t width, uint32_t height, uint32_t stride,
                                          hal_pixfmt format, int quality) {
    if (width < 16 || height < 16 || width > 8192 || height > 8192 || (width & 1) || (height & 1))
        return NULL;
    if (quality < 1 || quality > 100) return NULL;
    if (format == HAL_PIX_YUYV && stride < 2 * width) return NULL;
    if ((format == HAL_PIX_I420 || format == HAL_PIX_NV12) && stride < width) return NULL;
    if (format != HAL_PIX_YUYV && format != HAL_PIX_I420 && format != HAL_PIX_NV12) return NULL;

    hal_jpeg_encoder *enc = calloc(1, sizeof *enc);
    if (!enc) return NULL;
    enc->width = width;
    enc->height = height;
    enc->stride = stride;
    enc->format = format;
    enc->mcu_rows = format == HAL_PIX_YUYV ? 8 : 16;
    enc->padded_width = (uint32_t)align_up(width, 16);

    // Planar staging: mcu_rows luma lines plus chroma lines (4:2:2 has as many chroma lines as luma).
    size_t luma_row = align_up(enc->padded_width, HAL_ALIGN);
    size_t chroma_row = align_up(enc->padded_width / 2, HAL_ALIGN);
    size_t chroma_lines = format == HAL_PIX_YUYV ? enc->mcu_rows : enc->mcu_rows / 2;
    enc->plane_buffer = aligned_alloc(HAL_ALIGN, luma_row * enc->mcu_rows + 2 * chroma_row * chroma_lines);
    // libjpeg's per-image pool for this geometry is well under 64 KiB plus a few rows per component.
    enc->arena_size = 256 * 1024 + 64 * luma_row;
    enc->arena = aligned_alloc(HAL_ALIGN, enc->arena_size);
    if (!enc->plane_buffer || !enc->arena) {
        hal_jpeg_encoder_destroy(enc);
        return NULL;
    }
    for (uint32_t r = 0; r < enc->mcu_rows; r++) enc->y_rows[r] = enc->plane_buffer + r * luma_row;
    uint8_t *chroma = enc->plane_buffer + luma_row * enc->mcu_rows;
    for (size_t r = 0; r < chroma_lines; r++) {
        enc->u_rows[r] = chroma + r * chroma_row;
        enc->v_rows[r] = chroma + (chroma_lines + r) * chroma_row;
    }

    struct jpeg_compress_struct *c = &enc->cinfo;
    c->err = jpeg_std_error(&enc->err.pub);
    enc->err.pub.error_exit = hal_error_exit;
    enc->err.pub.output_message = hal_output_message;
    if (setjmp(enc->err.jump)) {
        hal_jpeg_encoder_destroy(enc);
        return NULL;
    }
    jpeg_create_compress(c);

    enc->default_alloc_small = c->mem->alloc_small;
    enc->default_alloc_large = c->mem->alloc_large;
    enc->default_alloc_sarray = c->mem->alloc_sarray;
    enc->default_alloc_barray = c->mem->alloc_barray;
    enc->default_free_pool = c->mem->free_pool;
    c->mem->alloc_small = pool_alloc_small;
    c->mem->alloc_large = pool_alloc_large;
    c->mem->alloc_sarray = pool_alloc_sarray;
    c->mem->alloc_barray = pool_alloc_barray;
    c->mem->free_pool = pool_free;

    enc->dest.init_destination = dest_init;
    enc->dest.empty_output_buffer = dest_empty;
    enc->dest.term_destination = dest_term;
    c->dest = &enc->dest;

    c->image_width = width;
    c->image_height = height;
    c->input_components = 3;
    c->in_color_space = JCS_YCbCr;
    jpeg_set_defaults(c);
    jpeg_set_colorspace(c, JCS_YCbCr);
    c->raw_data_in = TRUE;
    c->dct_method = JDCT_ISLOW;
    c->comp_info[0].h_samp_factor = 2;
    c->comp_info[0].v_samp_factor = format == HAL_PIX_YUYV ? 1 : 2;
    for (int i = 1; i < 3; i++) {
        c->comp_info[i].h_samp_factor = 1;
        c->comp_info[i].v_samp_factor = 1;
    }
    jpeg_set_quality(c, quality, TRUE);
    return enc;
}

void hal_jpeg_encoder_destroy(hal_jpeg_encoder *enc) {
    if (!enc) return;
    if (enc->cinfo.mem) jpeg_destroy_compress(&enc->cinfo);
    free(enc->plane_buffer);
    free(enc->arena);
    free(enc);
}

// Copies `count` bytes and repeats the last sample up to `padded`: libjpeg reads whole MCUs.
static void pad_row(uint8_t *row, uint32_t count, uint32_t padded) {
    for (uint32_t x = count; x < padded; x++) row[x] = row[count - 1];
}

// How many lines ahead staging asks the cache for source bytes. A camera frame arrives by DMA and is read
// exactly once, so every line is a miss; the hardware prefetcher stops at each 4 KiB page, and perf showed
// staging stalled on its loads (about 3 % of the 1280x720 encode time recovered by this).
enum { PREFETCH_LINES = 2 };

// De-interleaves YUYV lines [y0, y0+mcu_rows) into the planar staging rows. Lines past the bottom of the
// picture repeat the last line, as libjpeg needs whole iMCU rows.
static void stage_yuyv(hal_jpeg_encoder *enc, const uint8_t *src, uint32_t y0) {
    const uint32_t half = enc->width / 2;
    for (uint32_t r = 0; r < enc->mcu_rows; r++) {
        uint32_t line = y0 + r < enc->height ? y0 + r : enc->height - 1;
        const uint8_t *s = src + (size_t)line * enc->stride;
        uint8_t *y = enc->y_rows[r], *u = enc->u_rows[r], *v = enc->v_rows[r];
        uint32_t x = 0;
#ifdef __SSE2__
        // 16 pixels at a time: even bytes are luma, odd bytes alternate U and V (SSE2 is baseline x86-64).
        const __m128i low = _mm_set1_epi16(0x00FF);
        uint32_t next = line + PREFETCH_LINES < enc->height ? line + PREFETCH_LINES : line;
        const uint8_t *ahead = src + (size_t)next * enc->stride;
        for (; x + 8 <= half; x += 8) {
            __builtin_prefetch(ahead + 4 * x, 0, 3);
            __m128i a = _mm_loadu_si128((const __m128i *)(s + 4 * x));
            __m128i b = _mm_loadu_si128((const __m128i *)(s + 4 * x + 16));
            _mm_storeu_si128((__m128i *)(y + 2 * x), _mm_packus_epi16(_mm_and_si128(a, low), _mm_and_si128(b, low)));
            __m128i c = _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8)); // U V U V ...
            _mm_storel_epi64((__m128i *)(u + x), _mm_packus_epi16(_mm_and_si128(c, low), _mm_setzero_si128()));
            _mm_storel_epi64((__m128i *)(v + x), _mm_packus_epi16(_mm_srli_epi16(c, 8), _mm_setzero_si128()));
        }
#endif
        for (; x < half; x++) {
            y[2 * x] = s[4 * x];
            u[x] = s[4 * x + 1];
            y[2 * x + 1] = s[4 * x + 2];
            v[x] = s[4 * x + 3];
        }
        pad_row(y, enc->width, enc->padded_width);
        pad_row(u, half, enc->padded_width / 2);
        pad_row(v, half, enc->padded_width / 2);
    }
}

// Points (or, when padding is needed, copies) the 16 luma lines [y0, y0+16) of a 4:2:0 frame into the
// row array. Lines past the bottom repeat the last line, as libjpeg needs whole iMCU rows.
static void stage_luma_420(hal_jpeg_encoder *enc, const uint8_t *src, uint32_t y0, JSAMPROW *rows) {
    // Direct pointers are safe when libjpeg's padded reads stay inside each line.
    const int direct = enc->padded_width <= enc->stride;
    for (uint32_t r = 0; r < 16; r++) {
        uint32_t line = y0 + r < enc->height ? y0 + r : enc->height - 1;
        const uint8_t *s = src + (size_t)line * enc->stride;
        if (direct) {
            rows[r] = (JSAMPROW)s;
        } else {
            memcpy(enc->y_rows[r], s, enc->width);
            pad_row(enc->y_rows[r], enc->width, enc->padded_width);
            rows[r] = enc->y_rows[r];
        }
    }
}

// NV12: luma as I420; the U V pairs of the matching 8 chroma lines are de-interleaved into staging rows.
static void stage_nv12(hal_jpeg_encoder *enc, const uint8_t *src, uint32_t y0, JSAMPROW *rows[3]) {
    const uint8_t *uv_plane = src + (size_t)enc->stride * enc->height;
    stage_luma_420(enc, src, y0, rows[0]);
    const uint32_t half = enc->width / 2;
    for (uint32_t r = 0; r < 8; r++) {
        uint32_t line = y0 / 2 + r < enc->height / 2 ? y0 / 2 + r : enc->height / 2 - 1;
        const uint8_t *restrict uv = uv_plane + (size_t)line * enc->stride;
        uint8_t *restrict u = enc->u_rows[r], *restrict v = enc->v_rows[r];
        for (uint32_t x = 0; x < half; x++) {
            u[x] = uv[2 * x];
            v[x] = uv[2 * x + 1];
        }
        pad_row(u, half, enc->padded_width / 2);
        pad_row(v, half, enc->padded_width / 2);
        rows[1][r] = u;
        rows[2][r] = v;
    }
}

// I420: luma lines, and the 8 matching lines of each chroma plane, pointed to (or copied when padded).
static void stage_i420(hal_jpeg_encoder *enc, const uint8_t *src, uint32_t y0, JSAMPROW *rows[3]) {
    const uint32_t cstride = enc->stride / 2;
    const uint8_t *u_plane = src + (size_t)enc->stride * enc->height;
    const uint8_t *v_plane = u_plane + (size_t)cstride * (enc->height / 2);
    stage_luma_420(enc, src, y0, rows[0]);
    // Direct pointers are safe when libjpeg's padded reads stay inside each line.
    const int direct = enc->padded_width / 2 <= cstride;
    for (uint32_t r = 0; r < 8; r++) {
        uint32_t line = y0 / 2 + r < enc->height / 2 ? y0 / 2 + r : enc->height / 2 - 1;
        const uint8_t *u = u_plane + (size_t)line * cstride, *v = v_plane + (size_t)line * cstride;
        if (direct) {
            rows[1][r] = (JSAMPROW)u;
            rows[2][r] = (JSAMPROW)v;
        } else {
            memcpy(enc->u_rows[r], u, enc->width / 2);
            memcpy(enc->v_rows[r], v, enc->width / 2);
            pad_row(enc->u_rows[r], enc->width / 2, enc->padded_width / 2);
            pad_row(enc->v_rows[r], enc->width / 2, enc->padded_width / 2);
            rows[1][r] = enc->u_rows[r];
            rows[2][r] = enc->v_rows[r];
        }
    }
}

hal_status hal_jpeg_encode(hal_jpeg_encoder *enc, const uint8_t *source, size_t source_length,
                           const uint8_t *comment, size_t comment_length,
                           uint8_t *output, size_t output_capacity, size_t *out_length) {
    if (!enc || !source || !output || !out_length || comment_length > 65533) return HAL_ERR_ARGUMENT;
    if (source_length < hal_jpeg_source_size(enc->height, enc->stride, enc->format))
        return HAL_ERR_INPUT_TOO_SMALL;
    enc->output = output;
    enc->output_capacity = output_capacity;
    enc->output_overflow = 0;
    enc->message[0] = 0;

    // Row arrays for jpeg_write_raw_data; for I420 they may point into the source.
    JSAMPROW y_ptrs[HAL_MAX_MCU_ROWS], u_ptrs[HAL_MAX_MCU_ROWS / 2], v_ptrs[HAL_MAX_MCU_ROWS / 2];
    JSAMPROW *rows[3] = {y_ptrs, u_ptrs, v_ptrs};
    JSAMPARRAY planes[3] = {y_ptrs, u_ptrs, v_ptrs};
    if (enc->format == HAL_PIX_YUYV) {
        planes[0] = enc->y_rows;
        planes[1] = enc->u_rows;
        planes[2] = enc->v_rows;
    }

    if (setjmp(enc->err.jump)) {
        jpeg_abort_compress(&enc->cinfo); // frees the image pool: the arena is reset
        return enc->output_overflow ? HAL_ERR_OUTPUT_TOO_SMALL : HAL_ERR_LIBJPEG;
    }
    jpeg_start_compress(&enc->cinfo, TRUE);
    if (comment && comment_length > 0)
        jpeg_write_marker(&enc->cinfo, JPEG_COM, comment, (unsigned int)comment_length);
    for (uint32_t y0 = 0; y0 < enc->height; y0 += enc->mcu_rows) {
        if (enc->format == HAL_PIX_YUYV)
            stage_yuyv(enc, source, y0);
        else if (enc->format == HAL_PIX_NV12)
            stage_nv12(enc, source, y0, rows);
        else
            stage_i420(enc, source, y0, rows);
        jpeg_write_raw_data(&enc->cinfo, planes, enc->mcu_rows);
    }
    jpeg_finish_compress(&enc->cinfo);
    *out_length = output_capacity - enc->dest.free_in_buffer;
    return HAL_OK;
}

size_t hal_jpeg_find_marker(const uint8_t *data, size_t length, uint8_t marker) {
    size_t i = 0;
#ifdef __SSE2__
    // 16 positions at a time: compare the block and the block one byte on, and both must match.
    const __m128i ff = _mm_set1_epi8((char)0xFF), want = _mm_set1_epi8((char)marker);
    for (; i + 17 <= length; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(data + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(data + i + 1));
        int hits = _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, ff), _mm_cmpeq_epi8(b, want)));
        if (hits) return i + (size_t)__builtin_ctz((unsigned)hits);
    }
#endif
    for (; i + 1 < length; i++)
        if (data[i] == 0xFF && data[i + 1] == marker) return i;
    return length;
}
