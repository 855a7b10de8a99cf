"""What `make test` does when a pytest-xdist worker dies (a native crash in its JVM, or pytest-timeout ending a hung
test): the run goes on, the test it died in runs once more, and the summary says so, with the JVM's crash report.

Why not xdist's own handling: pytest-xdist 3.8.0 (the newest release) hangs the whole run under `--dist loadgroup`
after a worker is replaced (pytest-xdist #1323, #1327, #1378: the dead worker's finished groups go back on the queue
as empty work that never completes, and a replacement given a single test waits forever for a second). A CI run
stopped at its 90-minute limit so. The fixes are merged upstream but not released; this scheduler carries the same
three rules until they are: only unfinished work goes back, a worker always holds two tests or its shutdown, and the
test a worker died in is re-run at most once (pytest-rerunfailures, which does that for other schedulers, cannot
under loadgroup: its `mark_test_pending` is not implemented there).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from xdist.scheduler import LoadGroupScheduling

RERUNS_AFTER_A_CRASH = 1


class RecoveringLoadGroupScheduling(LoadGroupScheduling):
    def __init__(self, config, log=None):
        super().__init__(config, log)
        self.crashes: dict[str, int] = {}  # test id -> workers it took down

    def remove_node(self, node):
        workload = self.assigned_work.pop(node)
        unfinished = {scope: unit for scope, unit in workload.items() if not all(unit.values())}
        if not unfinished:
            return None
        crashed = next(nodeid for unit in unfinished.values() for nodeid, done in unit.items() if not done)
        self.crashes[crashed] = self.crashes.get(crashed, 0) + 1
        if not self.will_rerun(crashed):
            unfinished[self._split_scope(crashed)][crashed] = True  # reported failed; not run a third time
        for scope, unit in reversed(list(unfinished.items())):
            if not all(unit.values()):
                self.workqueue[scope] = unit
                self.workqueue.move_to_end(scope, last=False)  # the interrupted group goes on first
        for other in self.assigned_work:
            self._reschedule(other)
        return crashed

    def will_rerun(self, nodeid: str) -> bool:
        return self.crashes.get(nodeid, 0) <= RERUNS_AFTER_A_CRASH

    def _reschedule(self, node):
        if node.shutting_down or node not in self.registered_collections:
            return  # a replacement still collecting is scheduled once its collection arrives (schedule())
        if node.channel is None or node.channel.isclosed():
            return  # a worker that died: its "node down" event re-queues its work (sending to it would fail)
        # A worker runs a test only once it holds the next one (or its shutdown): never leave it holding one alone.
        while self.workqueue and self._pending_of(self.assigned_work[node]) <= 2:
            self._assign_work_unit(node)
            if self._pending_of(self.assigned_work[node]) >= 2:
                break
        if not self.workqueue:
            node.shutdown()


def crash_reports_since(start: float, folder: Path) -> list[Path]:
    """The JVM's fatal-error logs (hs_err_pid*.log, written to the working directory) of this run."""
    return sorted(p for p in folder.glob("hs_err_pid*.log") if p.stat().st_mtime >= start)


def crash_report_summary(report: Path, lines: int = 40) -> str:
    """The head of a JVM fatal-error log: the signal, the problematic frame and the crashing thread."""
    head = report.read_text(errors="replace").splitlines()[:lines]
    return f"--- {report.name} ---\n" + "\n".join(head)


SESSION_START = time.time()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    return RecoveringLoadGroupScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem, report, sched):
    will_rerun = getattr(sched, "will_rerun", None)
    if will_rerun is not None and will_rerun(crashitem):
        report.outcome = "rerun"  # not a failure: the test runs again on the replacement worker


def pytest_report_teststatus(report):
    if report.outcome == "rerun":
        return "rerun", "R", ("RERUN", {"yellow": True})
    return None


def pytest_terminal_summary(terminalreporter):
    rerun = terminalreporter.stats.get("rerun", [])
    if rerun:
        terminalreporter.write_sep("=", f"{len(rerun)} test(s) re-run after their worker died", yellow=True)
        for report in rerun:
            terminalreporter.write_line(f"{report.nodeid}: {report.longrepr}")
    reports = crash_reports_since(SESSION_START, Path(terminalreporter.config.rootpath))
    if reports:
        terminalreporter.write_sep("=", f"JVM crash reports written during this run: {len(reports)}", red=True)
        for path in reports:
            terminalreporter.write_line(crash_report_summary(path))
