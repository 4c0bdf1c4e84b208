"""What one `edgemask precompute` run did: the statuses of an image and the run's Summary.

Shared by both engines (edgemask.runtime.precompute in this process, edgemask.runtime.precompute_ray
with Ray Data), so neither imports the other for it.
"""

import time
from dataclasses import dataclass, field

# statuses of one image
COMPUTED, CACHED, UNREADABLE, FAILED = "computed", "cached", "unreadable", "failed"


@dataclass
class Summary:
    """What a precompute run did."""

    total: int
    engine: str = "in-process"
    workers: int = 1
    computed: int = 0
    cached: int = 0
    problems: list = field(default_factory=list)  # (name, status, reason) of unreadable / failed images
    seconds: float = 0.0
    peak_worker_rss: int = 0  # bytes, the largest resident set of an encoder process
    interrupted: bool = False
    done_times: list = field(default_factory=list)  # time.time() when each computed image was done

    def add(self, name: str, status: str, reason: str = "", done_at: float = 0.0) -> None:
        if status == COMPUTED:
            self.computed += 1
            self.done_times.append(done_at or time.time())
        elif status == CACHED:
            self.cached += 1
        else:
            self.problems.append((name, status, reason))

    @property
    def done(self) -> int:
        return self.computed + self.cached + len(self.problems)

    @property
    def steady_rate(self) -> float:
        """Computed images per second between the first and the last one (start-up left out)."""
        span = max(self.done_times, default=0) - min(self.done_times, default=0)
        return (self.computed - 1) / span if self.computed > 1 and span > 0 else 0.0

    def format(self) -> str:
        rate = f", {self.computed / self.seconds:.2f} images/s" if self.seconds > 0 and self.computed else ""
        if self.steady_rate:
            rate += f" ({self.steady_rate:.2f} after the start)"
        head = "interrupted after" if self.interrupted else "done:"
        lines = [f"{head} {self.computed} computed, {self.cached} already cached, "
                 f"{sum(1 for p in self.problems if p[1] == UNREADABLE)} unreadable"
                 + (f", {sum(1 for p in self.problems if p[1] == FAILED)} failed"
                    if any(p[1] == FAILED for p in self.problems) else "")
                 + f" of {self.total} images in {self.seconds:.1f} s{rate} "
                 f"({self.engine}, {self.workers} worker{'s' if self.workers != 1 else ''}"
                 + (f", peak {self.peak_worker_rss / 2**20:.0f} MiB per worker" if self.peak_worker_rss else "")
                 + ")"]
        lines += [f"  {status}: {name}: {reason}" for name, status, reason in self.problems]
        if self.interrupted:
            lines.append("run the same command again to compute the rest")
        return "\n".join(lines)


def peak_rss() -> int:
    """This process's peak resident set size, bytes."""
    from edgemask.runtime.bench import peak_rss_mb

    return int(peak_rss_mb() * 2**20)


def reason(exc: BaseException) -> str:
    """One line for an image that could not be read."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
