// HAL system queries the Swift side cannot reach through Glibc's module (they need _GNU_SOURCE).
#pragma once

/// CPUs this process may run on (its affinity mask, as `taskset` sets it); at least 1.
int hal_available_cores(void);
