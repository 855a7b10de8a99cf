"""The project's exceptions, and the one place where Java exceptions become Python ones.

Public entry points carry @java_boundary (as PySpark's captured exceptions): whatever Java throws below them,
and wherever (a callback, a listener's set-up, a Spark job), leaves as a BridgeError subclass chosen by the
ordered table below, raised `from` the Java exception, keeping its class and message.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import jpype


class BridgeError(Exception):
    """Base class of every error dl4j-bridge raises."""


class SetupError(BridgeError, RuntimeError):
    """The JDK, the Maven build or the classpath is missing or unusable; the message says what to run."""


class JvmConfigError(BridgeError, RuntimeError):
    """start_jvm() was called again with options that differ from the running JVM's."""


class ShapeError(BridgeError, ValueError):
    """An array has the wrong shape for the network or the operation."""


class DataError(BridgeError, ValueError):
    """Input data is invalid: wrong dtype, NaN/inf, labels out of range, empty, corrupt file."""


class FileAccessError(BridgeError, OSError):
    """A file or folder could not be read or written: missing, no permission, disk full, a file system refusing."""


class ModelFileError(BridgeError, OSError):
    """A model file is missing, truncated or not a model of the expected kind."""


class ResourceError(BridgeError, MemoryError):
    """The JVM ran out of memory (heap, or ND4J's off-heap limit): start it with more (bridge.start_jvm)."""


class UnsupportedLayerError(BridgeError, NotImplementedError):
    """The ONNX exporter cannot convert part of a network exactly."""


class ParityError(BridgeError, AssertionError):
    """An exported model's outputs differ from DL4J's beyond the tolerance."""


class ProviderError(BridgeError, RuntimeError):
    """A requested ONNX Runtime execution provider cannot run here."""


class SparkError(BridgeError, RuntimeError):
    """A Spark job, master or worker failed."""


class JavaError(BridgeError, RuntimeError):
    """A Java exception that has no more specific translation.

    Attributes:
        java_class: fully qualified class name of the Java exception.
        java_message: its message.
    """

    def __init__(self, message: str, java_class: str = "", java_message: str = ""):
        super().__init__(message)
        self.java_class = java_class
        self.java_message = java_message


# Ordered: the first Java class (or superclass) that matches decides the Python type.
# A zip that Java cannot read is a model file (DL4J's model files are zips); other I/O failures are about files
# in general, unless the call says its files are models (java_errors(..., io_error=ModelFileError)).
# The Java runtime's own exceptions come first: a Spark job that failed on a row scoring refused is about the data.
_JAVA_TO_PYTHON: list[tuple[str, type[BridgeError]]] = [
    ("ai.dl4jbridge.runtime.InvalidInputException", DataError),
    ("ai.dl4jbridge.runtime.ModelLoadException", ModelFileError),
    ("ai.dl4jbridge.runtime.ProviderUnavailableException", ProviderError),
    # A DataFrame row the network cannot take, found on an executor: the data's fault, not Spark's.
    ("ai.dl4jbridge.spark.TrainingColumns$BadRowException", DataError),
    ("org.apache.spark.SparkException", SparkError),
    ("java.lang.OutOfMemoryError", ResourceError),
    ("org.bytedeco.javacpp.Pointer$OutOfMemoryError", ResourceError),
    ("ai.dl4jbridge.modelzip.ModelZipException", ModelFileError),  # a model zip refused (java/modelzip)
    ("java.util.zip.ZipException", ModelFileError),
    ("java.io.IOException", FileAccessError),
    ("java.io.UncheckedIOException", FileAccessError),
    ("org.nd4j.linalg.exception.ND4JIllegalStateException", ShapeError),
    ("org.deeplearning4j.exception.DL4JInvalidInputException", ShapeError),
    ("org.deeplearning4j.exception.DL4JInvalidConfigException", DataError),
    ("java.lang.IllegalArgumentException", DataError),
]


def _java_class_chain(exc) -> list[str]:
    names = []
    cls = exc.getClass()
    while cls is not None:
        names.append(str(cls.getName()))
        cls = cls.getSuperclass()
    return names


def _root_cause(exc):
    seen = set()
    while exc.getCause() is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.getCause()
    return exc


def translate(exc, context: str = "", io_error: type[BridgeError] = FileAccessError) -> BridgeError:
    """The Python exception for a Java Throwable (JPype's JException), keeping class and message. io_error: the
    type for Java's I/O failures in this call (ModelFileError where the files are models)."""
    root = _root_cause(exc)
    java_class = str(root.getClass().getName())
    java_message = str(root.getMessage()) if root.getMessage() is not None else ""
    chain = _java_class_chain(root) + _java_class_chain(exc)
    python_type = next((py for java, py in _JAVA_TO_PYTHON if java in chain), JavaError)
    if python_type is FileAccessError:
        python_type = io_error
    prefix = f"{context}: " if context else ""
    message = f"{prefix}{java_class}: {java_message}"
    if python_type is JavaError:
        return JavaError(message, java_class, java_message)
    error = python_type(message)
    error.java_class = java_class
    error.java_message = java_message
    return error


@contextlib.contextmanager
def java_errors(context: str = "", io_error: type[BridgeError] = FileAccessError) -> Iterator[None]:
    """Wrap calls into the JVM: Java exceptions leave as BridgeError subclasses, raised from the original."""
    try:
        yield
    except jpype.JException as exc:
        raise translate(exc, context, io_error) from exc


def java_boundary(context: str, io_error: type[BridgeError] = FileAccessError) -> Callable:
    """Decorator for a public entry point: every Java exception raised under it, however deep, is translated."""

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def entry(*args, **kwargs):
            with java_errors(context, io_error):
                return function(*args, **kwargs)

        return entry

    return decorate
