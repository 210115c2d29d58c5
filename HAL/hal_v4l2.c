// HAL V4L2 shims: one request each, 0 or -errno. See include/hal_v4l2.h.
#include "hal_v4l2.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libv4l2.h>
#include <linux/videodev2.h>

// The structs Swift mirrors must stay the size it expects.
_Static_assert(sizeof(hal_v4l2_buffer) == 32, "hal_v4l2_buffer layout");

static int result(int r) { return r < 0 ? -errno : r; }

int hal_v4l2_open(const char *path) {
    // Check it is a V4L2 device with a plain ioctl first: libv4l2 would print its own complaint.
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct v4l2_capability cap;
    if (ioctl(fd, VIDIOC_QUERYCAP, &cap) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    int wrapped = v4l2_fd_open(fd, 0);
    if (wrapped < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return wrapped;
}

int hal_v4l2_close(int fd) { return result(v4l2_close(fd)); }

int hal_v4l2_querycap(int fd, hal_v4l2_caps *out) {
    struct v4l2_capability cap;
    memset(&cap, 0, sizeof cap);
    if (v4l2_ioctl(fd, VIDIOC_QUERYCAP, &cap) < 0) return -errno;
    memset(out, 0, sizeof *out);
    memcpy(out->driver, cap.driver, sizeof out->driver - 1);
    memcpy(out->card, cap.card, sizeof out->card - 1);
    memcpy(out->bus, cap.bus_info, sizeof out->bus - 1);
    // device_caps describes this node; capabilities the whole device.
    out->device_caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
    out->can_capture = (out->device_caps & V4L2_CAP_VIDEO_CAPTURE) != 0;
    out->can_stream = (out->device_caps & V4L2_CAP_STREAMING) != 0;
    return 0;
}

int hal_v4l2_enum_format(int fd, uint32_t index, uint32_t *fourcc, char description[32]) {
    struct v4l2_fmtdesc d;
    memset(&d, 0, sizeof d);
    d.index = index;
    d.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (v4l2_ioctl(fd, VIDIOC_ENUM_FMT, &d) < 0) return -errno;
    *fourcc = d.pixelformat;
    memcpy(description, d.description, 31);
    description[31] = 0;
    return 0;
}

int hal_v4l2_enum_size(int fd, uint32_t fourcc, uint32_t index, uint32_t *width, uint32_t *height, int *is_range) {
    struct v4l2_frmsizeenum s;
    memset(&s, 0, sizeof s);
    s.index = index;
    s.pixel_format = fourcc;
    if (v4l2_ioctl(fd, VIDIOC_ENUM_FRAMESIZES, &s) < 0) return -errno;
    if (s.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
        *width = s.discrete.width;
        *height = s.discrete.height;
        *is_range = 0;
    } else {
        *width = s.stepwise.max_width;
        *height = s.stepwise.max_height;
        *is_range = 1;
    }
    return 0;
}

int hal_v4l2_enum_interval(int fd, uint32_t fourcc, uint32_t width, uint32_t height, uint32_t index,
                           uint32_t *num, uint32_t *den) {
    struct v4l2_frmivalenum i;
    memset(&i, 0, sizeof i);
    i.index = index;
    i.pixel_format = fourcc;
    i.width = width;
    i.height = height;
    if (v4l2_ioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &i) < 0) return -errno;
    if (i.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
        *num = i.discrete.numerator;
        *den = i.discrete.denominator;
    } else {
        *num = i.stepwise.min.numerator;
        *den = i.stepwise.min.denominator;
    }
    return 0;
}

int hal_v4l2_set_format(int fd, uint32_t fourcc, uint32_t width, uint32_t height, hal_v4l2_format *out) {
    struct v4l2_format f;
    memset(&f, 0, sizeof f);
    f.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    f.fmt.pix.width = width;
    f.fmt.pix.height = height;
    f.fmt.pix.pixelformat = fourcc;
    f.fmt.pix.field = V4L2_FIELD_NONE;
    if (v4l2_ioctl(fd, VIDIOC_S_FMT, &f) < 0) return -errno;
    out->pixelformat = f.fmt.pix.pixelformat;
    out->width = f.fmt.pix.width;
    out->height = f.fmt.pix.height;
    out->bytesperline = f.fmt.pix.bytesperline;
    out->sizeimage = f.fmt.pix.sizeimage;
    return 0;
}

int hal_v4l2_set_interval(int fd, uint32_t num, uint32_t den, uint32_t *out_num, uint32_t *out_den) {
    struct v4l2_streamparm p;
    memset(&p, 0, sizeof p);
    p.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    p.parm.capture.timeperframe.numerator = num;
    p.parm.capture.timeperframe.denominator = den;
    if (v4l2_ioctl(fd, VIDIOC_S_PARM, &p) < 0) return -errno;
    *out_num = p.parm.capture.timeperframe.numerator;
    *out_den = p.parm.capture.timeperframe.denominator;
    return 0;
}

int hal_v4l2_request_buffers(int fd, uint32_t *count) {
    struct v4l2_requestbuffers r;
    memset(&r, 0, sizeof r);
    r.count = *count;
    r.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    r.memory = V4L2_MEMORY_MMAP;
    if (v4l2_ioctl(fd, VIDIOC_REQBUFS, &r) < 0) return -errno;
    *count = r.count;
    return 0;
}

int hal_v4l2_query_buffer(int fd, uint32_t index, uint32_t *offset, uint32_t *length) {
    struct v4l2_buffer b;
    memset(&b, 0, sizeof b);
    b.index = index;
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    b.memory = V4L2_MEMORY_MMAP;
    if (v4l2_ioctl(fd, VIDIOC_QUERYBUF, &b) < 0) return -errno;
    *offset = b.m.offset;
    *length = b.length;
    return 0;
}

void *hal_v4l2_map(int fd, uint32_t offset, uint32_t length, int *err) {
    void *p = v4l2_mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
    if (p == MAP_FAILED) {
        *err = errno;
        return NULL;
    }
    return p;
}

int hal_v4l2_unmap(void *address, uint32_t length) { return result(v4l2_munmap(address, length)); }

int hal_v4l2_queue(int fd, uint32_t index) {
    struct v4l2_buffer b;
    memset(&b, 0, sizeof b);
    b.index = index;
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    b.memory = V4L2_MEMORY_MMAP;
    return v4l2_ioctl(fd, VIDIOC_QBUF, &b) < 0 ? -errno : 0;
}

int hal_v4l2_dequeue(int fd, hal_v4l2_buffer *out) {
    struct v4l2_buffer b;
    memset(&b, 0, sizeof b);
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    b.memory = V4L2_MEMORY_MMAP;
    if (v4l2_ioctl(fd, VIDIOC_DQBUF, &b) < 0) return -errno;
    out->index = b.index;
    out->bytesused = b.bytesused;
    out->flags = b.flags;
    out->sequence = b.sequence;
    out->timestamp_ns = (int64_t)b.timestamp.tv_sec * 1000000000 + (int64_t)b.timestamp.tv_usec * 1000;
    out->error = (b.flags & V4L2_BUF_FLAG_ERROR) != 0;
    return 0;
}

int hal_v4l2_stream(int fd, int on) {
    int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    return v4l2_ioctl(fd, on ? VIDIOC_STREAMON : VIDIOC_STREAMOFF, &type) < 0 ? -errno : 0;
}

int hal_v4l2_poll(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLPRI};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0) return -errno;
    if (r == 0) return 0;
    // A vanished device hangs up. POLLERR (a streaming error) is left to VIDIOC_DQBUF to explain.
    if (p.revents & (POLLHUP | POLLNVAL)) return -ENODEV;
    return 1;
}
