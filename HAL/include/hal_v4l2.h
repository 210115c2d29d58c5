// HAL: V4L2 capture through libv4l2.
//
// Swift cannot call the variadic ioctl() nor see the VIDIOC_* request macros, so each V4L2 request the
// camera uses gets one tiny C function here. Each does exactly one call (no retry: the error policy,
// EINTR retries included, lives in Swift where tests can drive it) and returns 0 or -errno.
// libv4l2 (v4l2_open/v4l2_ioctl/v4l2_mmap) adds format conversion for cameras with odd formats.
#ifndef HAL_V4L2_H
#define HAL_V4L2_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char driver[16];
    char card[32];
    char bus[32];
    uint32_t device_caps;    // V4L2_CAP_* of this node
    int can_capture;         // V4L2_CAP_VIDEO_CAPTURE
    int can_stream;          // V4L2_CAP_STREAMING
} hal_v4l2_caps;

typedef struct {
    uint32_t pixelformat;    // fourcc
    uint32_t width, height;
    uint32_t bytesperline;
    uint32_t sizeimage;
} hal_v4l2_format;

typedef struct {
    uint32_t index;
    uint32_t bytesused;
    uint32_t flags;          // V4L2_BUF_FLAG_*
    uint32_t sequence;
    int64_t timestamp_ns;    // CLOCK_MONOTONIC for drivers that set V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC
    int error;               // V4L2_BUF_FLAG_ERROR was set: the frame is damaged
} hal_v4l2_buffer;

/// open(2) through libv4l2, non-blocking (poll decides when a frame is ready). fd or -errno.
int hal_v4l2_open(const char *path);
int hal_v4l2_close(int fd);
/// VIDIOC_QUERYCAP
int hal_v4l2_querycap(int fd, hal_v4l2_caps *out);
/// VIDIOC_ENUM_FMT (capture). -EINVAL past the last index.
int hal_v4l2_enum_format(int fd, uint32_t index, uint32_t *fourcc, char description[32]);
/// VIDIOC_ENUM_FRAMESIZES: discrete sizes; a stepwise range reports its maximum (is_range = 1).
int hal_v4l2_enum_size(int fd, uint32_t fourcc, uint32_t index, uint32_t *width, uint32_t *height, int *is_range);
/// VIDIOC_ENUM_FRAMEINTERVALS: discrete intervals (num/den seconds).
int hal_v4l2_enum_interval(int fd, uint32_t fourcc, uint32_t width, uint32_t height, uint32_t index,
                           uint32_t *num, uint32_t *den);
/// VIDIOC_S_FMT (progressive); `out` is what the driver chose.
int hal_v4l2_set_format(int fd, uint32_t fourcc, uint32_t width, uint32_t height, hal_v4l2_format *out);
/// VIDIOC_S_PARM: frame interval num/den; `out_*` is what the driver chose.
int hal_v4l2_set_interval(int fd, uint32_t num, uint32_t den, uint32_t *out_num, uint32_t *out_den);
/// VIDIOC_REQBUFS (MMAP); *count is updated to what the driver granted. count 0 frees them.
int hal_v4l2_request_buffers(int fd, uint32_t *count);
/// VIDIOC_QUERYBUF: where buffer `index` is to be mapped.
int hal_v4l2_query_buffer(int fd, uint32_t index, uint32_t *offset, uint32_t *length);
/// v4l2_mmap of one buffer; NULL on failure (*err = errno).
void *hal_v4l2_map(int fd, uint32_t offset, uint32_t length, int *err);
int hal_v4l2_unmap(void *address, uint32_t length);
/// VIDIOC_QBUF
int hal_v4l2_queue(int fd, uint32_t index);
/// VIDIOC_DQBUF; -EAGAIN when no frame is ready.
int hal_v4l2_dequeue(int fd, hal_v4l2_buffer *out);
/// VIDIOC_STREAMON / VIDIOC_STREAMOFF
int hal_v4l2_stream(int fd, int on);
/// poll(2) for a frame: 1 ready (or an error DQBUF will report), 0 timeout, -errno; POLLHUP gives -ENODEV.
int hal_v4l2_poll(int fd, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
