"""Build the JVM side with the Maven wrapper, in a checkout or from the sources inside the wheel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..errors import SetupError
from .locate import CACHE_DIR, REPO_JAVA_DIR, SERVICE, TRAIN, UI, WHEEL_JAVA_DIR, java_home

__all__ = ["setup", "FIRST_SETUP_DOWNLOAD", "downloaded_bytes"]

# What the first `setup` downloads, the one figure that setup's message, `dl4j-bridge doctor` and the README give:
# Maven 3.9.11 for the wrapper (9 MB) and, into an empty ~/.m2, the jars of the train, runtime and ui modules and the
# Maven plugins that build them: 1,650 files, 736.5 MB by the sizes in maven.log (downloaded_bytes), measured
# 2026-12-05 with `-Dmaven.repo.local` on an empty folder. Re-measure that way after changing a dependency. (`make
# setup` builds every module: 47.8 MB more, the test cluster's Hadoop jars; the README gives both.)
FIRST_SETUP_DOWNLOAD = "~750 MB"


def _java_sources() -> tuple[Path, bool]:
    """The java/ tree to build and whether it is a checkout (built in place)."""
    if (REPO_JAVA_DIR / "pom.xml").is_file():
        return REPO_JAVA_DIR, True
    if (WHEEL_JAVA_DIR / "pom.xml").is_file():
        return WHEEL_JAVA_DIR, False
    raise SetupError("The JVM sources are missing from this installation (no java/pom.xml). Reinstall dl4j-bridge.")


def setup(quiet: bool = False, progress=None) -> Path:
    """Resolve the jars with Maven and write the classpath where bridge.jvm looks for it.

    In a checkout that is java/train/target; for an installed package, the cache folder
    (~/.cache/dl4j-bridge/VERSION, or $DL4J_BRIDGE_CACHE/VERSION). Maven's output goes to maven.log there
    (java/target/maven.log in a checkout); on failure its last lines are printed and SetupError names the file.
    progress: a text stream for the one progress line (stderr by default); quiet=True prints nothing.
    """
    home = java_home()
    if not (home / "bin" / "javac").exists():
        raise SetupError(f"{home} is a JRE without javac: install a JDK (apt-get install openjdk-17-jdk-headless).")
    sources, in_place = _java_sources()
    build_dir = sources if in_place else CACHE_DIR / "build"
    if not in_place:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(build_dir, ignore_errors=True)
        shutil.copytree(sources, build_dir, ignore=shutil.ignore_patterns("__pycache__", "target"))
        (build_dir / "mvnw").chmod(0o755)
    # train: what Python drives; runtime: the ONNX Runtime Java service jar that `dl4j-bridge serve` runs;
    # ui: DL4J's training UI server (its own JVM: bridge.ui).
    cmd = ["./mvnw", "-B", "package", "-DskipTests", "-pl", "train,runtime,ui", "-am"]
    env = {**os.environ, "JAVA_HOME": str(home)}
    log = (sources / "target" if in_place else CACHE_DIR) / "maven.log"  # java/target is git-ignored build output
    log.parent.mkdir(parents=True, exist_ok=True)
    code = _run_logged(cmd, build_dir, env, log, None if quiet else (progress or sys.stderr))
    if code != 0:
        if not quiet:
            print(_tail(log, 40), file=progress or sys.stderr)
        raise SetupError(
            f"Maven build failed (exit {code}) in {build_dir}: its whole output is in {log} (last lines above)."
        )
    target = build_dir / "train" / "target"
    if in_place:
        return target
    for jars in (TRAIN, SERVICE, UI):  # into the cache folder, where bridge.jvm.locate looks after the checkout
        built = build_dir / jars.module / "target"
        (built_jar, built_listing), (cached_jar, cached_listing) = jars.places()
        shutil.copy2(built / built_jar.name, cached_jar)
        if built_listing is not None:
            shutil.copy2(built / built_listing.name, cached_listing)
    return CACHE_DIR


def _run_logged(cmd: list[str], cwd: Path, env: dict, log: Path, progress) -> int:
    """Run Maven with its output in `log`; one progress line on `progress` (redrawn in place on a terminal)."""
    start = time.monotonic()
    live = progress is not None and hasattr(progress, "isatty") and progress.isatty()

    def line(state: str) -> None:
        if progress is None:
            return
        downloads = _count(log, "Downloaded from")
        text = f"dl4j-bridge setup: building the jars with Maven: {state} ({time.monotonic() - start:.0f} s"
        text += f", {downloads} files, {downloaded_bytes(log) / 1e6:.0f} MB downloaded)" if downloads else ")"
        print(("\r" + text + " " * 8) if live else text, end="" if live else "\n", file=progress, flush=True)

    if progress is not None and not live:
        print(setup_notice(log), file=progress, flush=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        while True:
            try:
                code = process.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if live:
                    line("running")
            except BaseException:  # Ctrl-C: stop Maven too
                process.kill()
                process.wait()
                raise
    line("done" if code == 0 else "failed")
    if live:
        print(file=progress)
    return code


def setup_notice(log: Path) -> str:
    """The line `setup` starts with (not on a terminal, where the progress line is redrawn instead)."""
    return (
        f"dl4j-bridge setup: building the jars with Maven (log: {log}); the first run downloads {FIRST_SETUP_DOWNLOAD}"
    )


_DOWNLOADED = re.compile(rb"Downloaded from [^:]+: \S+ \(([0-9.]+) (B|kB|MB|GB) at")
_UNITS = {b"B": 1, b"kB": 1e3, b"MB": 1e6, b"GB": 1e9}


def downloaded_bytes(log: Path) -> int:
    """The bytes Maven downloaded, by the sizes its log gives ("Downloaded from central: URL (46 kB at 3.1 MB/s)")."""
    try:
        text = log.read_bytes()
    except OSError:
        return 0
    return int(sum(float(size) * _UNITS[unit] for size, unit in _DOWNLOADED.findall(text)))


def _count(log: Path, marker: str) -> int:
    try:
        return log.read_bytes().count(marker.encode())
    except OSError:
        return 0


def _tail(log: Path, lines: int) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])
