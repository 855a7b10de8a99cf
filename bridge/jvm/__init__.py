"""The JVM boundary: one in-process JVM (process), where the JDK and jars are (locate), arrays across the
boundary (arrays), Java subprocesses (javaproc) and the Maven build (build).

Nothing here imports the rest of bridge: every other layer sits on top of this one.
"""

from .javaproc import JavaProcess, free_port, java_command
from .locate import CACHE_DIR, REPO_JAVA_DIR, VERSION, classpath, java_home, service_jar, ui_classpath
from .process import (
    GOMP_SPINCOUNT,
    JAVA17_MODULE_FLAGS,
    JavaThread,
    JvmOptions,
    jclass,
    jvm_options,
    nd4j_build,
    nd4j_flags,
    release_openmp_threads,
    set_native_thread_defaults,
    start_jvm,
)

__all__ = [
    "CACHE_DIR",
    "GOMP_SPINCOUNT",
    "JAVA17_MODULE_FLAGS",
    "JavaProcess",
    "REPO_JAVA_DIR",
    "VERSION",
    "JvmOptions",
    "JavaThread",
    "classpath",
    "free_port",
    "java_command",
    "java_home",
    "jclass",
    "jvm_options",
    "nd4j_build",
    "nd4j_flags",
    "release_openmp_threads",
    "service_jar",
    "set_native_thread_defaults",
    "start_jvm",
    "ui_classpath",
]
