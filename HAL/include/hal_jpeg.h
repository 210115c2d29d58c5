// HAL: JPEG encoding through libjpeg(-turbo).
//
// Encodes raw camera frames (packed YUYV 4:2:2, planar I420 or semi-planar NV12) straight from the caller's buffer into a
// caller-owned output buffer. Uses libjpeg's raw-data path (jpeg_write_raw_data), so there is no colour
// conversion or resampling: YUYV becomes a 4:2:2 JPEG, I420 and NV12 4:2:0 JPEGs, which is what cameras store.
//
// Allocation discipline: everything is allocated in hal_jpeg_encoder_create. libjpeg's per-image pool is
// served from a preallocated arena (see hal_jpeg.c), so encoding a frame does no heap allocation.
#ifndef HAL_JPEG_H
#define HAL_JPEG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Pixel layouts the encoder accepts (the same values the Swift side uses).
typedef enum {
    HAL_PIX_YUYV = 1, ///< packed Y0 U Y1 V, 2 bytes per pixel (V4L2_PIX_FMT_YUYV)
    HAL_PIX_I420 = 2, ///< planar Y, then U (w/2 x h/2), then V (V4L2_PIX_FMT_YUV420)
    HAL_PIX_NV12 = 3, ///< planar Y, then interleaved U V pairs (w/2 x h/2) (V4L2_PIX_FMT_NV12)
} hal_pixfmt;

/// Results of HAL calls. Negative values are errors.
typedef enum {
    HAL_OK = 0,
    HAL_ERR_ARGUMENT = -1,          ///< a bad size, format, quality or pointer
    HAL_ERR_OUTPUT_TOO_SMALL = -2,  ///< the JPEG did not fit in the output buffer; nothing usable was written
    HAL_ERR_INPUT_TOO_SMALL = -3,   ///< the source buffer is shorter than the frame geometry needs
    HAL_ERR_LIBJPEG = -4,           ///< libjpeg reported an error (see hal_jpeg_last_error)
    HAL_ERR_NO_MEMORY = -5,         ///< create could not allocate its buffers
} hal_status;

typedef struct hal_jpeg_encoder hal_jpeg_encoder;

/// Creates an encoder for one frame geometry. `stride` is bytes per line of the source (YUYV: at least
/// 2*width; I420: the Y plane's line length, chroma lines are stride/2). Returns NULL on bad arguments or
/// when memory cannot be had. Width and height must be even (4:2:x chroma), 16..8192.
hal_jpeg_encoder *hal_jpeg_encoder_create(uint32_t width, uint32_t height, uint32_t stride,
                                          hal_pixfmt format, int quality);

void hal_jpeg_encoder_destroy(hal_jpeg_encoder *encoder);

/// Sets the quality (1..100) for the next frames; rebuilds the quantisation tables once, not per frame.
hal_status hal_jpeg_encoder_set_quality(hal_jpeg_encoder *encoder, int quality);

/// Encodes one frame. `comment` (may be NULL) is written as a JPEG COM segment (at most 65533 bytes), so
/// the frame carries its own metadata. On success stores the JPEG's length in *out_length.
hal_status hal_jpeg_encode(hal_jpeg_encoder *encoder,
                           const uint8_t *source, size_t source_length,
                           const uint8_t *comment, size_t comment_length,
                           uint8_t *output, size_t output_capacity, size_t *out_length);

/// The source buffer size one frame needs for this geometry.
size_t hal_jpeg_source_size(uint32_t height, uint32_t stride, hal_pixfmt format);

/// The offset of the first byte pair 0xFF `marker` in data[0, length), or `length` if there is none. A
/// vector scan: entropy-coded data holds a stuffed 0xFF about every 256 bytes, which makes a memchr loop
/// stop hundreds of times a frame.
size_t hal_jpeg_find_marker(const uint8_t *data, size_t length, uint8_t marker);

/// How many times libjpeg's per-image memory did not fit the preallocated arena and fell back to malloc.
/// Zero in a healthy steady state; a test watches it.
uint64_t hal_jpeg_encoder_heap_fallbacks(const hal_jpeg_encoder *encoder);

/// The last libjpeg error message for this encoder ("" when none).
const char *hal_jpeg_last_error(const hal_jpeg_encoder *encoder);

#ifdef __cplusplus
}
#endif
#endif
