"""Sampling a process tree: peak resident memory and CPU time of a process and all its
descendants, for the benchmarks that run the loop in subprocesses (`pipeline`, `catchup`)."""

from collections import defaultdict


class TreeSampler:
    """Peak resident memory and CPU time of a process and all its descendants, sampled.

    CPU time is the last value seen for each process (user + system), so a process's last
    sampling interval is lost; reaped-children counters are not added (they would count the
    step processes twice).
    """

    def __init__(self, pid: int):
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(pid)
        self.peak_total = 0
        self.peak_single = 0
        self.max_processes = 0
        self.cpu: dict[tuple[int, float], float] = {}
        self.commands: dict[tuple[int, float], str] = {}

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except self._psutil.Error:
            return
        total = 0
        for proc in procs:
            try:
                with proc.oneshot():
                    rss = proc.memory_info().rss
                    times = proc.cpu_times()
                    key = (proc.pid, proc.create_time())
                    self.cpu[key] = times.user + times.system
                    if key not in self.commands:
                        self.commands[key] = " ".join(proc.cmdline())
            except self._psutil.Error:
                continue
            total += rss
            self.peak_single = max(self.peak_single, rss)
        self.peak_total = max(self.peak_total, total)
        self.max_processes = max(self.max_processes, len(procs))

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values())

    def cpu_by(self, role) -> dict[str, float]:
        """CPU seconds summed by `role(command line)`."""
        out: dict[str, float] = defaultdict(float)
        for key, seconds in self.cpu.items():
            out[role(self.commands.get(key, ""))] += seconds
        return dict(out)

    def cpu_by_pid(self) -> dict[int, float]:
        out: dict[int, float] = defaultdict(float)
        for (pid, _), seconds in self.cpu.items():
            out[pid] += seconds
        return dict(out)
