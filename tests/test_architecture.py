"""The package's shape: no import cycle among bridge's modules (imports inside functions counted), a short top
level, intra-package imports at module top, and one error boundary that also covers callbacks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bridge
from bridge import callbacks, nets
from bridge.errors import (
    BridgeError,
    DataError,
    FileAccessError,
    JavaError,
    ModelFileError,
    ProviderError,
    ResourceError,
    SparkError,
    java_boundary,
    translate,
)
from bridge.jvm import jclass

PACKAGE = Path(bridge.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> list[tuple[str, bool]]:
    """(imported bridge module, at module top?) for every import in `path`, relative ones resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:
                target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                found.append((target, id(node) in top))
        elif isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
    return [(target, at_top) for target, at_top in found if target in modules]


def _graph() -> dict[str, set[str]]:
    files = list(PACKAGE.rglob("*.py"))
    modules = {_module_name(f) for f in files}
    return {_module_name(f): {t for t, _ in _imports(f, modules)} - {_module_name(f)} for f in files}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_among_bridge_modules():
    graph = _graph()
    assert len(graph) > 40, "the walk found too few modules to mean anything"
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_a_cycle_would_be_found():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_bridge_imports_of_bridge_modules_sit_at_module_top():
    files = list(PACKAGE.rglob("*.py"))
    modules = {_module_name(f) for f in files}
    inside = [f"{f.relative_to(PACKAGE)} -> {t}" for f in files for t, at_top in _imports(f, modules) if not at_top]
    assert inside == []


def test_top_level_of_the_package_is_short():
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 14, sorted(entries)


@pytest.mark.parametrize("name", ["nets", "callbacks", "schedules", "spark", "augment", "ui", "plots"])
def test_public_namespaces_import_as_modules(name):
    module = __import__(f"bridge.{name}", fromlist=["*"])
    assert module is getattr(bridge, name)


def test_java_exception_in_a_callback_leaves_as_a_bridge_error(mnist):
    """A callback that calls Java wrongly: the Java exception is translated at the boundary, not raw JPype."""

    class Broken(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            jclass("java.util.ArrayList")().get(3)  # IndexOutOfBoundsException

    x, y = mnist[0][:64], mnist[1][:64]
    with pytest.raises(BridgeError, match="IndexOutOfBoundsException") as raised:
        bridge.fit(nets.mlp(hidden=(8,)), x, y, epochs=1, verbose=0, callbacks=[Broken()])
    assert isinstance(raised.value, JavaError) and raised.value.java_class == "java.lang.IndexOutOfBoundsException"


@pytest.mark.parametrize(
    "java_class, expected",
    [
        ("java.io.IOException", FileAccessError),
        ("java.io.FileNotFoundException", FileAccessError),
        ("java.util.zip.ZipException", ModelFileError),
        ("java.lang.OutOfMemoryError", ResourceError),
        ("java.lang.IllegalArgumentException", DataError),
        ("org.apache.spark.SparkException", SparkError),
        ("java.lang.UnsupportedOperationException", JavaError),
        ("ai.dl4jbridge.runtime.InvalidInputException", DataError),
        ("ai.dl4jbridge.runtime.ModelLoadException", ModelFileError),
        ("ai.dl4jbridge.runtime.ProviderUnavailableException", ProviderError),
    ],
)
def test_the_java_to_python_table(java_class, expected):
    error = translate(jclass(java_class)("what went wrong"), "context")
    assert type(error) is expected and error.java_class == java_class
    assert str(error) == f"context: {java_class}: what went wrong"


def test_io_failures_are_model_file_errors_where_the_files_are_models():
    assert type(translate(jclass("java.io.IOException")("x"), io_error=ModelFileError)) is ModelFileError


def test_the_boundary_decorator_translates_and_keeps_the_cause():
    @java_boundary("reading")
    def read():
        jclass("java.util.ArrayList")().get(0)

    with pytest.raises(JavaError, match="^reading: java.lang.IndexOutOfBoundsException") as raised:
        read()
    assert raised.value.__cause__ is not None and "IndexOutOfBounds" in type(raised.value.__cause__).__name__
