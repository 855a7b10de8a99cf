"""`make test`'s answer to a worker that dies (tests/worker_crashes.py): a real pytest-xdist run over generated test
files whose tests end their worker process. Stock pytest-xdist 3.8.0 hangs on the first layout below (a CI run hit
its time limit so); with the recovering scheduler the run ends, re-runs the test once, and reports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HANG_BOUND_S = 240  # generous: the run itself takes seconds; past this the scheduler hung

CRASH_ONCE = """
import os, pathlib
MARK = pathlib.Path(__file__).with_name("crashed-" + pathlib.Path(__file__).stem)
{mark}
def test_crashes_once():
    if not MARK.exists():
        MARK.write_text("once")
        os._exit(1)
"""


def _write_suite(folder: Path, always_crashing: bool) -> None:
    (folder / "pytest.ini").write_text("[pytest]\n")
    serial = '@pytest.mark.xdist_group("serial")'
    (folder / "test_a_serial.py").write_text(
        "import pytest\n" + "".join(f"{serial}\ndef test_s{i}(): pass\n" for i in range(3))
    )
    (folder / "test_b_serial_crash.py").write_text("import pytest\n" + CRASH_ONCE.format(mark=serial))
    for i in range(20):  # groups finished before the crash: stock xdist re-queues them as work that never ends
        (folder / f"test_f{i:02}.py").write_text(f"def test_x{i}(): pass\n")
    (folder / "test_zz_last.py").write_text(CRASH_ONCE.format(mark=""))
    if always_crashing:
        (folder / "test_zz_always.py").write_text("import os\ndef test_always(): os._exit(1)\n")


def _run_pytest(folder: Path, *options: str) -> subprocess.CompletedProcess:
    tests_dir = Path(__file__).parent
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "worker_crashes", "-n", "2", "--dist", "loadgroup"]
        + ["-p", "no:cacheprovider", "--rootdir", str(folder), "-c", str(folder / "pytest.ini"), *options, str(folder)],
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tests_dir)},
        capture_output=True,
        text=True,
        timeout=HANG_BOUND_S,
    )


def test_a_test_that_kills_its_worker_once_is_rerun_and_the_run_ends_green(tmp_path):
    _write_suite(tmp_path, always_crashing=False)
    run = _run_pytest(tmp_path)
    out = run.stdout
    assert run.returncode == 0, out[-3000:]
    assert "25 passed, 2 rerun" in out, out[-3000:]
    assert "2 test(s) re-run after their worker died" in out
    assert "test_b_serial_crash.py::test_crashes_once" in out and "test_zz_last.py::test_crashes_once" in out


def test_a_test_that_always_kills_its_worker_fails_once_rerun_and_nothing_hangs(tmp_path):
    _write_suite(tmp_path, always_crashing=True)
    run = _run_pytest(tmp_path)
    out = run.stdout
    assert run.returncode == 1, out[-3000:]
    assert "FAILED test_zz_always.py::test_always" in out
    assert "1 failed, 25 passed, 3 rerun" in out, out[-3000:]
    assert out.count("crashed while running 'test_zz_always.py::test_always'") == 2  # run twice


def test_the_serial_group_runs_on_one_worker_in_turn(tmp_path):
    """`--dist loadgroup` sends every test of an xdist_group to one worker (tests/conftest.py puts the `serial` tests
    in one). pytest 9.2 with pytest-xdist 3.8 broke that silently: the group spread over both workers."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_group.py").write_text(
        "import os, pytest\n"
        '@pytest.mark.xdist_group("serial")\n'
        '@pytest.mark.parametrize("i", range(6))\n'
        "def test_grouped(i):\n"
        '    print("worker", os.environ["PYTEST_XDIST_WORKER"])\n'
        + "".join(f"def test_free{i}(): pass\n" for i in range(6))
    )
    run = _run_pytest(tmp_path, "-v")
    passed = [line for line in run.stdout.splitlines() if "PASSED" in line and "test_grouped[" in line]
    grouped_workers = {line.split("]")[0] for line in passed}
    assert len(passed) == 6 and all(line.endswith("@serial") for line in map(str.strip, passed)), passed
    assert run.returncode == 0 and len(grouped_workers) == 1, run.stdout[-3000:]
