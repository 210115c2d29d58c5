// HAL system queries: see include/hal_system.h.
#define _GNU_SOURCE
#include "hal_system.h"

#include <sched.h>
#include <unistd.h>

int hal_available_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}
