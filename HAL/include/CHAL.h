// The HAL's public headers, as one module for Swift (`import CHAL`).
#include "hal_jpeg.h"
#include "hal_v4l2.h"
#include "hal_tls.h"
#include "hal_system.h"
