"""One JVM per Python process, started once, with DL4J's and Spark's classpath and flags.

JPype can neither restart a JVM nor survive fork(): start it once, and use "spawn" for workers.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import JvmConfigError
from .locate import classpath, java_home, libjvm

__all__ = ["JvmOptions", "start_jvm", "jvm_options", "jclass", "JavaThread"]


# What spark-submit adds on Java 17 (Spark's launcher JavaModuleOptions); a JPype JVM gets none of it.
JAVA17_MODULE_FLAGS = [
    "-XX:+IgnoreUnrecognizedVMOptions",
    *(
        f"--add-opens=java.base/{pkg}=ALL-UNNAMED"
        for pkg in (
            "java.lang",
            "java.lang.invoke",
            "java.lang.reflect",
            "java.io",
            "java.net",
            "java.nio",
            "java.util",
            "java.util.concurrent",
            "java.util.concurrent.atomic",
            "jdk.internal.ref",
            "sun.nio.ch",
            "sun.nio.cs",
            "sun.security.action",
            "sun.util.calendar",
        )
    ),
    "-Djdk.reflect.useDirectMethodHandle=false",
    "-Dio.netty.tryReflectionSetAccessible=true",
]

ONEDNN_EXTENSION = "-onednn-avx2"
# dl4j-bridge's own calls (fit, predict, evaluate) put DL4J's oneDNN layer helpers on the channels-first layers
# (ai.dl4jbridge.train.OneDnnHelpers). DL4J's switch for them (org.eclipse.deeplearning4j.helpers.disable) stays
# off: it would give channels-last layers helpers too, which compute them wrongly in DL4J's own output() and fit.
ONEDNN_HELPERS = "-Ddl4jbridge.oneDnnHelpers=true"


def nd4j_build(cp: list[str] | None = None) -> str:
    """Which libnd4j build the JVM loads: "onednn-avx2" (oneDNN kernels behind DL4J's CNN layers) where the
    CPU has AVX2 and FMA and its jar is on the classpath, else "generic". $DL4J_BRIDGE_ND4J=generic forces
    the generic build with DL4J's own layer code (DL4J's defaults)."""
    if os.environ.get("DL4J_BRIDGE_ND4J", "auto") == "generic":
        return "generic"
    entries = classpath() if cp is None else cp
    if not any(e.endswith(f"{ONEDNN_EXTENSION}.jar") for e in entries):
        return "generic"
    return "onednn-avx2" if {"avx2", "fma"} <= _cpu_flags() else "generic"


def nd4j_flags(cp: list[str] | None = None) -> list[str]:
    """JVM flags that select the build of nd4j_build() (Spark executors copy them from the driver)."""
    if nd4j_build(cp) == "generic":
        return []
    return [f"-Dorg.bytedeco.javacpp.platform.extension={ONEDNN_EXTENSION}", ONEDNN_HELPERS]


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@dataclass(frozen=True)
class JvmOptions:
    """How the JVM is started. Sizes use Java's syntax ("4g", "512m")."""

    heap: str = "2g"
    off_heap: str = "6g"  # javacpp maxbytes: ND4J's native arrays
    max_physical: str = "0"  # javacpp maxphysicalbytes (resident size); "0": unchecked (why: below)
    threads: int | None = None  # OMP_NUM_THREADS for ND4J; None keeps the environment's
    extra_classpath: tuple[str, ...] = ()
    extra_flags: tuple[str, ...] = ()
    classpath: tuple[str, ...] = field(default=(), compare=False)


# Why max_physical defaults to "0" (JavaCPP's resident-size check off): with a limit, JavaCPP reads the process's
# resident size (/proc/self/statm, under a global lock) at every native allocation, and ND4J allocates shape buffers
# for nearly every op: about 3% of resnet_small's training step on 2 cores (JFR, main thread), median step 53 -> 50
# ms with it off (BENCHMARKS.md, training-resnet). off_heap (javacpp maxbytes, a counter checked for free) still
# bounds ND4J's arrays and -Xmx the heap; pass max_physical="10g" to have the resident size checked as well.
_lock = threading.Lock()
_started_with: JvmOptions | None = None


def start_jvm(
    heap: str = "2g",
    off_heap: str = "6g",
    max_physical: str = "0",
    threads: int | None = None,
    extra_classpath: list[str] | tuple[str, ...] = (),
    extra_flags: list[str] | tuple[str, ...] = (),
) -> JvmOptions:
    """Start the in-process JVM once; later calls with the same options return at once.

    A later call with different options raises JvmConfigError naming how the JVM was started,
    because JPype cannot restart a JVM.
    """
    global _started_with
    wanted = JvmOptions(heap, off_heap, max_physical, threads, tuple(extra_classpath), tuple(extra_flags))
    with _lock:
        if _started_with is not None:
            if wanted != _started_with:
                raise JvmConfigError(
                    f"The JVM is already running with {_describe(_started_with)}; it cannot be restarted "
                    f"with {_describe(wanted)}. Call start_jvm() with the same options, or start a new process."
                )
            return _started_with
        import jpype

        if jpype.isJVMStarted():  # started by someone else in this process: use it as it is
            _started_with = wanted
            return wanted
        cp = classpath() + [str(p) for p in extra_classpath]
        if threads is not None:
            os.environ["OMP_NUM_THREADS"] = str(threads)  # read by ND4J's native code at load time
        set_native_thread_defaults(os.environ)
        jvm_path = libjvm(java_home())
        args = [
            f"-Xmx{heap}",
            f"-Dorg.bytedeco.javacpp.maxbytes={off_heap}",
            f"-Dorg.bytedeco.javacpp.maxphysicalbytes={max_physical}",
            *JAVA17_MODULE_FLAGS,
            *nd4j_flags(cp),
            *jit_flags(),
            *extra_flags,  # last: a flag of the caller's overrides ours
        ]
        # interrupt=False: Ctrl-C stays Python's (KeyboardInterrupt; bridge.fit stops its Java loop at a minibatch
        # boundary). With JPype's default for scripts the JVM owns SIGINT and ends the whole process.
        jpype.startJVM(jvm_path, *args, classpath=cp, convertStrings=False, interrupt=False)
        _exit_on_sigterm()
        _started_with = JvmOptions(
            heap, off_heap, max_physical, threads, tuple(extra_classpath), tuple(extra_flags), tuple(cp)
        )
        return _started_with


# The in-process JVM compiles with C1 alone. C2's compiler thread spends seconds of CPU in the first epochs of a
# DL4J training run (6-8% of all samples in perf, an epoch in), on a core the training's OpenMP threads need: LeNet
# on 2 cores, full epochs, 3 alternating fresh processes: 2,586-2,775 samples/s with C1 alone against 2,358-2,395
# with C2; by the third epoch, C2 done compiling, they are even (BENCHMARKS.md, training).
C1_ONLY = "-XX:TieredStopAtLevel=1"


def jit_flags() -> list[str]:
    """C1_ONLY, unless JAVA_TOOL_OPTIONS already chooses the compilers (a flag in start_jvm's extra_flags, such as
    -XX:TieredStopAtLevel=4 for HotSpot's default, comes later on the command line and wins by itself)."""
    chosen = os.environ.get("JAVA_TOOL_OPTIONS", "")
    return [] if "TieredStopAtLevel" in chosen or "TieredCompilation" in chosen else [C1_ONLY]


# How long an idle OpenMP thread of ND4J's libgomp spins before it sleeps. libgomp's own default (300,000 spins)
# keeps a waiting thread busy through the serial Java and OpenBLAS stretches of a training step, on the cores the
# other threads need: LeNet's step took 31 ms with it, 24-25 ms with 20,000, 25-28 ms with 1,000, 27 ms with
# 100,000; sleeping at once (OMP_WAIT_POLICY=passive) was slower than the default (BENCHMARKS.md, settings).
GOMP_SPINCOUNT = "20000"

# How long an idle OpenBLAS worker thread (ND4J's dense layers and matmuls) keeps calling sched_yield before it
# sleeps: 2^N CPU cycles. OpenBLAS's own 2^28 (~0.1 s) outlasts the oneDNN convolutions that follow a dense layer,
# so a third thread competes with the two OpenMP threads on a 2-core machine: a quarter of LeNet's steps took 2-3x
# the median, and its mean step was 30-33 ms against 27-29 ms with 2^4 (BENCHMARKS.md, settings).
OPENBLAS_THREAD_TIMEOUT = "4"


def set_native_thread_defaults(env) -> None:
    """How ND4J's idle native threads wait, unless the environment already says so. GOMP_SPINCOUNT for its OpenMP
    threads, unless GOMP_SPINCOUNT or OMP_WAIT_POLICY is set (e.g. GOMP_SPINCOUNT=300000, libgomp's default), and
    OPENBLAS_THREAD_TIMEOUT for its OpenBLAS threads, unless set (28 is OpenBLAS's default). Both libraries read
    them when they load, with ND4J's native code at its first use: later changes have no effect."""
    if "GOMP_SPINCOUNT" not in env and "OMP_WAIT_POLICY" not in env:
        env["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT
    env.setdefault("OPENBLAS_THREAD_TIMEOUT", OPENBLAS_THREAD_TIMEOUT)


def release_openmp_threads() -> bool:
    """Ends the calling thread's idle OpenMP worker threads in ND4J's libgomp (omp_pause_resource_all).

    libgomp counts every thread of every team; once they outnumber the cores it cuts all spinning to 100 turns, and
    an OpenMP barrier then costs a futex sleep and wake-up. bridge.fit trains on a worker thread, so the team that
    earlier ND4J calls left on the main thread would count against the training thread's team on a 2-core machine.
    The pool comes back by itself at the thread's next ND4J call. False where there is nothing to release (ND4J not
    loaded yet, another OpenMP runtime, not Linux)."""
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            path = next((line.split()[-1] for line in maps if "/libgomp.so" in line), None)
    except OSError:
        return False
    if path is None:
        return False
    pause = getattr(ctypes.CDLL(path), "omp_pause_resource_all", None)
    return pause is not None and pause(1) == 0  # 1: omp_pause_soft


def jvm_options() -> JvmOptions | None:
    """The options the running JVM was started with, or None before start_jvm()."""
    return _started_with


def jclass(name: str):
    """A Java class, starting the JVM with default options if it is not running yet."""
    if _started_with is None:
        start_jvm()
    import jpype

    return jpype.JClass(name)


class JavaThread(threading.Thread):
    """A threading.Thread for work that calls Java: it leaves the JVM when it ends. JPype attaches a Python thread at
    its first Java call and never detaches it; a thread that exits attached leaves a JVM thread behind (one per fit,
    before). Detaching comes after Thread.run has dropped the target and its arguments: the Java objects they hold
    are released on this thread, and a release after the detach would attach it again."""

    def run(self):
        import jpype

        try:
            super().run()
        finally:
            if jpype.isJVMStarted() and jpype.java.lang.Thread.isAttached():
                jpype.java.lang.Thread.detach()


def _describe(options: JvmOptions) -> str:
    shown = {k: v for k, v in asdict(options).items() if k != "classpath"}
    return ", ".join(f"{k}={v!r}" for k, v in shown.items())


def _exit_on_sigterm() -> None:
    """With interrupt=False JPype hands SIGTERM to Python from a Java thread (PyErr_SetInterruptEx, no GIL held);
    while Python keeps the default disposition, CPython 3.11.2 compares it with the default handler there and
    segfaults: every `kill` crashed the JVM and left an hs_err file in the working directory. Where the script keeps
    the default, SIGTERM ends the process as it would without a JVM: at once, exit status 128 + 15, no cleanup. A
    handler of the script's own, set before or after, is left to run."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_as_sigterm_would)


def _exit_as_sigterm_would(signum, frame) -> None:
    os._exit(128 + signum)
