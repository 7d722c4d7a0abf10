"""The dashboard's background prefetcher: computes the settings a user is likely to try next.

No Streamlit here: the thread and the choice of neighbouring settings, testable alone.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import gc
import logging
import os
import threading
import time

from harmreach.analysis.hours import DAYS
from harmreach.analysis.scenario import Params
from harmreach.geo import settings

#: The planning objectives offered by the dashboard, in its order.
OBJECTIVES = ["coverage", "backup", "equity"]


def _log(msg: str) -> None:
    """A line to the file named by ``HARMREACH_PREFETCH_LOG``, if set.

    Start and end (epoch seconds) of each page and background job: how they interleave.
    """
    path = os.environ.get("HARMREACH_PREFETCH_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(msg + "\n")


class Prefetcher:
    """Computes the demo's neighbouring settings while the user reads the page.

    After each page the dashboard names the settings a user is likely to try next (see
    :func:`neighbours` and ``app.prefetch_neighbours``); one background thread computes
    them in that order (the jobs say what: runs and plans, or also their publications)
    and stores each only when complete. Requests of earlier pages that are still pending
    stay queued behind the new ones.

    The thread keeps out of a page's way (Python runs one thread at a time): it starts a
    job, and each stage of a job, only while no page is being drawn (a stage under way
    finishes first), and it runs at a lower OS
    priority than the pages and the browser. A page that asks for a setting being
    computed waits for it rather than computing it twice (and the job then runs on
    without pausing). Off with ``HARMREACH_PREFETCH=0`` (``raw``, the default, and
    ``publish`` say what is computed ahead: see ``app.prefetch_neighbours``).
    """

    #: Jobs kept queued at most (the newest page's first).
    MAX_QUEUE = 40

    def __init__(self, enabled: bool | None = None) -> None:
        self.cond = threading.Condition()
        self.jobs: list[tuple[tuple, object]] = []
        self.running: dict[tuple, threading.Event] = {}
        self.pages = 0  # page runs in progress
        self.awaited: dict[tuple, int] = {}  # keys pages are waiting for (how many pages)
        self.current: tuple = ()  # keys of the job being computed
        self.stopped = False
        self.dirty = False  # objects made since the last garbage collection here
        self.last_page = 0.0  # when the last page ended (time.monotonic)
        self.idle = threading.Event()  # set while no job runs
        self.idle.set()
        if enabled is None:
            enabled = os.environ.get("HARMREACH_PREFETCH", "1") != "0"
        self.enabled = enabled
        if self.enabled:
            threading.Thread(target=self._loop, daemon=True, name="prefetch").start()
            # at exit, let a job under way end: a thread cut off inside a solver aborts
            atexit.register(self.stop)

    def stop(self, timeout: float = 10.0) -> None:
        """Start no more jobs; wait (at most ``timeout``) for the one under way."""
        with self.cond:
            self.stopped = True
            self.jobs = []
            self.cond.notify_all()
        self.idle.wait(timeout)

    def want(self, jobs: list[tuple[tuple, object]]) -> None:
        """Queue ``jobs`` first; older requests not yet computed follow them."""
        if not self.enabled or self.stopped:
            return
        with self.cond:
            new = {keys for keys, _ in jobs}
            older = [j for j in self.jobs if j[0] not in new]
            self.jobs = (list(jobs) + older)[: self.MAX_QUEUE]
            self.cond.notify_all()

    @contextlib.contextmanager
    def page(self):  # noqa: ANN201
        """While a page is drawn, the background thread waits between stages."""
        with self.cond:
            self.pages += 1
        t0 = time.time()
        try:
            yield
        finally:
            _log(f"page {t0:.3f} {time.time():.3f} current={str(self.current)[:200]}")
            with self.cond:
                self.pages -= 1
                self.dirty = True
                self.last_page = time.monotonic()
                self.cond.notify_all()

    def pause(self) -> None:
        """Between the stages of a job: wait while a page is being drawn.

        Not when that page waits for this very job.
        """
        with self.cond:
            self.cond.wait_for(
                lambda: (
                    self.pages == 0 or self.stopped or any(k in self.awaited for k in self.current)
                ),
                timeout=30,
            )

    def wait_for(self, key: tuple, timeout: float = 5.0) -> None:
        """Block while ``key`` is being computed in the background (at most ``timeout``)."""
        with self.cond:
            ev = self.running.get(key)
            if ev is None:
                return
            self.awaited[key] = self.awaited.get(key, 0) + 1
            self.cond.notify_all()
        try:
            ev.wait(timeout)
        finally:
            with self.cond:
                self.awaited[key] -= 1
                if not self.awaited[key]:
                    del self.awaited[key]

    def _loop(self) -> None:  # pragma: no cover - a daemon thread
        try:  # Linux: the browser and the pages come first for the CPU
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        while True:
            with self.cond:
                self.cond.wait_for(
                    lambda: self.stopped or (self.pages == 0 and (self.jobs or self.dirty))
                )
                if self.stopped:
                    return
                if not self.jobs:
                    self.dirty = False
                    # let the browser draw the page, and a quick follow-up page run, first
                    wait = GC_AFTER_PAGE_S - (time.monotonic() - self.last_page)
                    if wait > 0:
                        self.cond.wait(wait)
                    if self.pages == 0 and not self.stopped:
                        self.idle.clear()
                        collect_garbage()
                        self.idle.set()
                    continue
                self.idle.clear()
                keys, job = self.jobs.pop(0)
                self.current = keys
                evs = {k: self.running.setdefault(k, threading.Event()) for k in keys}
            t0 = time.time()
            try:
                job()
                _log(f"job {t0:.3f} {time.time():.3f} {keys[0][0]} {str(keys[0][1])[:160]}")
            except Exception:  # noqa: BLE001 - a failed guess costs nothing
                logging.getLogger(__name__).debug("prefetch failed", exc_info=True)
            finally:
                with self.cond:
                    self.current = ()
                    self.dirty = True
                    for k, ev in evs.items():
                        ev.set()
                        self.running.pop(k, None)
                    self.idle.set()


#: Seconds after a page before the background thread collects garbage.
GC_AFTER_PAGE_S = 0.5


#: Seconds between full collections (those also scan the objects frozen before).
GC_FULL_EVERY_S = 60.0
_last_full_gc = [0.0]


def collect_garbage() -> None:
    """A garbage collection, then every object left is frozen (not scanned again).

    The server holds many long-lived objects (the demo, results of every setting seen): a
    full collection over them takes 0.1-0.3 s, and Python starts one whenever enough new
    objects have survived, in the middle of a page as often as not. Done here, while the
    user reads, and with the survivors frozen, a page's own collections scan only what
    that page made. Once a minute the frozen objects are scanned too (unfrozen first), so
    garbage among them (results dropped from the store) is still found.
    """
    if time.monotonic() - _last_full_gc[0] > GC_FULL_EVERY_S:
        gc.unfreeze()
        _last_full_gc[0] = time.monotonic()
    gc.collect()
    gc.freeze()


#: The hour the time-of-week control offers first when a day is chosen.
DEFAULT_HOUR = 19


def neighbours(p: Params, k: int, objective: str) -> list[tuple[Params, int, str]]:
    """Settings one control change away from ``(p, k, objective)``, in the order computed.

    First those a page would take longest to compute (a new coverage run and publication,
    0.3-0.9 s): minutes ± 5, the other modes, the time of week (from any time: each day at
    the hour the control offers, in the order listed; from a time: any time and the hour
    either side), the suppression threshold ± 1. Then the plan with one satellite more or
    less and the other objectives (about 0.2 s each when missed: the coverage is there).
    """
    rep = dataclasses.replace
    out = [
        (rep(p, minutes=float(m)), k, objective)
        for m in (p.minutes + 5, p.minutes - 5)
        if 5 <= m <= 60
    ]
    out += [(rep(p, mode=m), k, objective) for m in settings.MODES if m != p.mode]
    if p.at is None:
        out += [(rep(p, at=f"{d} {DEFAULT_HOUR:02d}:00"), k, objective) for d in DAYS]
    else:
        day, hour = p.at.split()[0], int(p.at.split()[1][:2])
        out.append((rep(p, at=None), k, objective))
        out += [
            (rep(p, at=f"{day} {h:02d}:00"), k, objective)
            for h in (hour + 1, hour - 1)
            if 0 <= h <= 23
        ]
    out += [
        (rep(p, suppress=s), k, objective)
        for s in (p.suppress + 1, p.suppress - 1)
        if s >= settings.SUPPRESSION_THRESHOLD
    ]
    out += [(p, kk, objective) for kk in (k + 1, k - 1) if 1 <= kk <= 10]
    if k > 0:
        out += [(p, k, o) for o in OBJECTIVES if o != objective]
    return out
