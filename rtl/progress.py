"""Progress lines for the long RTL steps (Verilog export, Yosys synthesis, nextpnr place and route): the stage,
what the tool is doing now, and the elapsed time, written when a stage starts and ends and every `every` seconds
in between (a large export or synthesis runs for minutes and would otherwise print nothing)."""
import sys
import threading
import time
from contextlib import contextmanager


class Progress:
    """Writes `<prefix>: [elapsed] stage: detail` lines to `stream` (stderr by default)."""

    def __init__(self, stream=None, every: float = 15.0, prefix: str = "hwsim rtl"):
        if every <= 0:
            raise ValueError(f"every: {every} (expected a positive number of seconds)")
        self.stream = stream if stream is not None else sys.stderr
        self.every, self.prefix = every, prefix
        self.t0 = time.monotonic()
        self._detail = ""
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        with self._lock:
            print(f"{self.prefix}: [{time.monotonic() - self.t0:6.1f} s] {text}", file=self.stream, flush=True)

    def detail(self, text: str) -> None:
        """What the running tool reports it is doing (shown on the next heartbeat)."""
        self._detail = text.strip()

    @contextmanager
    def stage(self, name: str):
        """Announce `name`, beat every `every` seconds while it runs, and report its duration."""
        self._detail = ""
        start = time.monotonic()
        self._line(f"{name} ...")
        done = threading.Event()

        def beat():
            while not done.wait(self.every):
                self._line(f"{name}: {time.monotonic() - start:.0f} s" + (f", {self._detail}" if self._detail else ""))

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            done.set()
            thread.join()
        self._line(f"{name}: done in {time.monotonic() - start:.1f} s")


@contextmanager
def stage(progress: "Progress | None", name: str):
    """`progress.stage(name)`, or nothing when no progress is wanted (library calls are quiet by default)."""
    if progress is None:
        yield None
    else:
        with progress.stage(name) as p:
            yield p
