"""The README as a newcomer reads it: "The API in one screen" runs as written, and every throughput figure that the
README or docs/ quote is one that BENCHMARKS.md (the one place figures are recorded) holds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
API_MARKER = "<!-- tests/test_readme.py runs this block"


def python_block_after(marker: str) -> str:
    """The ```python block that follows `marker` in README.md."""
    text = (ROOT / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", text[text.index(marker) :], re.S).group(1)


def _your_files(folder: Path) -> None:
    """What the block reads as the user's own files: photos/ with one sub-folder per class, and table.csv."""
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (folder / "photos" / name).mkdir(parents=True)
        for i in range(5):
            pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / "photos" / name / f"{i}.png")
    rows = [f"{5 + i * 0.1:.1f},{3 + i * 0.05:.2f},{'setosa' if i % 2 else 'virginica'}" for i in range(10)]
    (folder / "table.csv").write_text("sepal_length,sepal_width,species\n" + "\n".join(rows) + "\n")


@pytest.mark.slow
def test_the_api_in_one_screen_runs(tmp_path):
    """The block, unchanged but for its epoch counts (each `epochs=N` becomes `epochs=1`, the one substitution),
    in a fresh interpreter (it starts the JVM with its own options) in a folder holding photos/ and table.csv."""
    block = python_block_after(API_MARKER)
    assert "epochs=" in block
    quick = re.sub(r"\bepochs=\d+", "epochs=1", block)
    _your_files(tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", quick + '\nprint("ACCURACY", result.accuracy)\n'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert float(re.search(r"ACCURACY (\S+)", run.stdout).group(1)) > 0.5, run.stdout[-2000:]
    for written in ("model.zip", "model.onnx", "g.onnx", "log.csv", "ckpt-01.zip"):
        assert (tmp_path / written).is_file(), written


# ---- figures: quoted from BENCHMARKS.md, never measured again in prose ----
NUMBER = r"\d[\d,]*(?:\.\d+)?"
# a throughput ("2,718 samples/s", "13,514 single-row LeNet requests/s") or a speed ratio to PyTorch ("0.61x PyTorch")
QUOTED = re.compile(rf"({NUMBER})(?:\s[\w-]+){{0,3}}\s(?:samples/s|req/s|requests/s)|({NUMBER})x PyTorch")
THROUGHPUT_COLUMN = re.compile(r"samples/s|req/s|requests/s")


def quoted_figures(text: str) -> list[str]:
    """Numbers that a document quotes as a throughput or a ratio to PyTorch: in prose, and in the cells of table
    columns whose header names a throughput."""
    found = [a or b for a, b in QUOTED.findall(text)]
    table: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if len(table) > 2:
            columns = [i for i, head in enumerate(table[0]) if THROUGHPUT_COLUMN.search(head)]
            for row in table[2:]:
                found += [n for i in columns if i < len(row) for n in re.findall(NUMBER, row[i])]
        table = []
    return found


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_figure_finder_finds_what_prose_and_tables_write():
    text = (
        "trains at 2,773 samples/s, 0.61x PyTorch's speed, 0.31x PyTorch; 3x faster; 13,514 single-row LeNet\n"
        "requests/s, 20 req/s\n\n| model | samples/s | accuracy |\n| --- | --- | --- |\n| LeNet | 2587 / 2895 | 0.88 |\n"
    )
    assert sorted(quoted_figures(text)) == sorted(["2,773", "0.61", "0.31", "13,514", "20", "2587", "2895"])


@pytest.mark.parametrize("document", _documents(), ids=lambda p: p.name)
def test_throughput_figures_in_the_docs_come_from_benchmarks_md(document):
    benchmarks = (ROOT / "BENCHMARKS.md").read_text()
    held = {n.replace(",", "") for n in re.findall(NUMBER, benchmarks)}
    quoted = quoted_figures(document.read_text())
    missing = [f for f in quoted if f.replace(",", "") not in held]
    assert not missing, (
        f"{document.name} quotes {missing} (samples/s, requests/s or x PyTorch) that BENCHMARKS.md does not hold: "
        "copy the figure from BENCHMARKS.md, or drop it and point there"
    )
