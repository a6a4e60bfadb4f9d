"""Peak memory of the running benchmark process, shared by the benchmarks that report it."""
from __future__ import annotations

import resource


def peak_mb() -> float:
    """This process's peak RSS. VmHWM belongs to the address space exec made, where Linux's
    ru_maxrss carries the parent's peak across fork + exec (a large parent would show as the
    child's peak)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
