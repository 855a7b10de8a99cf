"""One figure for what the first `dl4j-bridge setup` downloads: the README, setup's first line and `doctor` all
give bridge.jvm.build.FIRST_SETUP_DOWNLOAD; setup's progress line counts the megabytes Maven's log reports."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.cli.doctor import _jars
from bridge.jvm.build import FIRST_SETUP_DOWNLOAD, downloaded_bytes, setup_notice

README = Path(__file__).resolve().parent.parent / "README.md"


def test_downloaded_bytes_sums_the_sizes_in_mavens_log(tmp_path):
    log = tmp_path / "maven.log"
    log.write_text(
        "[INFO] Downloading from central: https://repo/a.pom\n"
        "[INFO] Downloaded from central: https://repo/a.pom (5.2 kB at 209 kB/s)\n"
        "[INFO] Downloaded from central-only: https://repo/b.jar (46 MB at 3.1 MB/s)\n"
        "[INFO] Downloaded from central: https://repo/c.sha1 (40 B at 1 kB/s)\n"
    )
    assert downloaded_bytes(log) == 5_200 + 46_000_000 + 40
    assert downloaded_bytes(tmp_path / "none.log") == 0


def test_readme_setup_and_doctor_give_the_same_download_figure(tmp_path):
    text = README.read_text()
    setup_line = next(line for line in text.splitlines() if line.startswith("dl4j-bridge setup "))
    assert FIRST_SETUP_DOWNLOAD in setup_line, setup_line
    figures = set(re.findall(r"~?\d[\d,]* MB of jars", text))
    assert figures <= {f"{FIRST_SETUP_DOWNLOAD} of jars"}, figures  # no other figure for the same download
    assert setup_notice(tmp_path / "maven.log").endswith(f"downloads {FIRST_SETUP_DOWNLOAD}")
    jar_lines = [v for k, v in _jars().items() if k in ("jars (checkout)", "jar cache")]
    assert jar_lines and all(FIRST_SETUP_DOWNLOAD in line for line in jar_lines), jar_lines
