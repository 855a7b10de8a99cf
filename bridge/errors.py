"""The project's exceptions, and the one place where Java exceptions become Python ones."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


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


class ModelFileError(BridgeError, OSError):
    """A model file is missing, truncated or not a model of the expected kind."""


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
_JAVA_TO_PYTHON: list[tuple[str, type[BridgeError]]] = [
    ("org.apache.spark.SparkException", SparkError),
    ("ai.dl4jbridge.modelzip.ModelZipException", ModelFileError),  # a model zip refused (java/modelzip)
    ("java.io.FileNotFoundException", ModelFileError),
    ("java.util.zip.ZipException", ModelFileError),
    ("java.io.IOException", ModelFileError),
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


def translate(exc, context: str = "") -> BridgeError:
    """The Python exception for a Java Throwable (JPype's JException), keeping class and message."""
    root = _root_cause(exc)
    java_class = str(root.getClass().getName())
    java_message = str(root.getMessage()) if root.getMessage() is not None else ""
    chain = _java_class_chain(root) + _java_class_chain(exc)
    python_type = next((py for java, py in _JAVA_TO_PYTHON if java in chain), JavaError)
    prefix = f"{context}: " if context else ""
    message = f"{prefix}{java_class}: {java_message}"
    if python_type is JavaError:
        return JavaError(message, java_class, java_message)
    error = python_type(message)
    error.java_class = java_class
    error.java_message = java_message
    return error


@contextlib.contextmanager
def java_errors(context: str = "") -> Iterator[None]:
    """Wrap every call into the JVM: Java exceptions leave as BridgeError subclasses, raised from the original."""
    import jpype

    try:
        yield
    except jpype.JException as exc:
        raise translate(exc, context) from exc
