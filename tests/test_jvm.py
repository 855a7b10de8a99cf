import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bridge
from bridge.errors import JvmConfigError

pytestmark = pytest.mark.serial  # timing: fresh JVMs probing their threads and signals


def test_start_jvm_is_idempotent(jvm):
    assert bridge.start_jvm() == jvm


def test_start_jvm_with_other_options_says_how_it_was_started(jvm):
    with pytest.raises(JvmConfigError, match=r"already running with heap='2g'.*heap='3g'"):
        bridge.start_jvm(heap="3g")


def test_jvm_has_the_java17_flags_spark_needs():
    from bridge.jvm import jclass

    args = [str(a) for a in jclass("java.lang.management.ManagementFactory").getRuntimeMXBean().getInputArguments()]
    assert "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED" in args
    assert any(a.startswith("-Dorg.bytedeco.javacpp.maxbytes=") for a in args)


def test_native_memory_is_bounded_by_a_counter_not_by_reading_the_resident_size(jvm):
    """ND4J's arrays stay bounded (off_heap), but JavaCPP does not read /proc/self/statm at every allocation, which
    cost about 3% of a training step (bridge/jvm/process.py says why)."""
    from bridge.jvm import jclass

    pointer = jclass("org.bytedeco.javacpp.Pointer")
    assert int(pointer.maxBytes()) == 6 << 30
    assert int(pointer.maxPhysicalBytes()) == 0


def _run(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _setup_error(call: str, env: dict) -> subprocess.CompletedProcess:
    """Run `call` in a fresh interpreter; it prints SETUP-ERROR and the message if SetupError is raised."""
    code = f"""
        import bridge.jvm as jvm, bridge.jvm.locate as j, pathlib
        try:
            {call}
        except j.SetupError as e:
            print('SETUP-ERROR', e)
    """
    return _run(code, env)


def test_missing_classpath_says_what_to_run(tmp_path):
    result = _setup_error(
        "j.REPO_JAVA_DIR = pathlib.Path('/nonexistent'); jvm.start_jvm()", {"DL4J_BRIDGE_CACHE": str(tmp_path)}
    )
    assert "SETUP-ERROR" in result.stdout and "dl4j-bridge setup" in result.stdout, result.stderr


def test_java_older_than_11_is_refused(tmp_path):
    old = tmp_path / "jdk8"
    (old / "bin").mkdir(parents=True)
    (old / "release").write_text('JAVA_VERSION="1.8.0_392"\n')
    result = _setup_error("j.java_home()", {"JAVA_HOME": str(old)})
    assert "SETUP-ERROR Java 8" in result.stdout and "too old" in result.stdout, result.stderr


def test_missing_jdk_says_what_to_install(tmp_path):
    result = _setup_error("j.java_home()", {"JAVA_HOME": "", "PATH": str(tmp_path)})
    assert "SETUP-ERROR No JDK found" in result.stdout and "apt-get install" in result.stdout, result.stderr


def test_cnn_layers_use_onednn_kernels_when_that_build_is_loaded():
    """On AVX2 CPUs the oneDNN build of libnd4j is loaded and dl4j-bridge's calls run DL4J's conv layers on it
    (3x LeNet training); DL4J's own switch for its helpers stays off (tests/test_onednn_helpers.py)."""
    from bridge.jvm import jclass, nd4j_build
    from bridge.jvm.process import _cpu_flags
    from bridge.nets import as_java

    build = nd4j_build()
    if {"avx2", "fma"} <= _cpu_flags() and os.environ.get("DL4J_BRIDGE_ND4J", "auto") != "generic":
        assert build == "onednn-avx2"
    system = jclass("java.lang.System")
    extension = system.getProperty("org.bytedeco.javacpp.platform.extension")
    assert system.getProperty("org.eclipse.deeplearning4j.helpers.disable") is None  # DL4J's default: off
    net = bridge.nets.lenet()
    conv = as_java(net).getLayer(0)
    assert conv.getHelper() is None  # as DL4J builds it
    bridge.predict(net, np.zeros((1, 1, 28, 28), np.float32))
    helper = conv.getHelper()
    if build == "onednn-avx2":
        assert str(extension) == "-onednn-avx2"
        assert helper is not None and helper.getClass().getSimpleName() == "MKLDNNConvHelper"
    else:
        assert extension is None and helper is None


SPIN_PROBE = """
    import numpy, bridge
    bridge.start_jvm()
    bridge.to_numpy(bridge.to_indarray(numpy.ones(3, numpy.float32)).add(1.0))  # loads ND4J and its libgomp
"""


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, "GOMP_SPINCOUNT = '20000'"),  # dl4j-bridge's measured default (bridge.jvm.GOMP_SPINCOUNT)
        ({"GOMP_SPINCOUNT": "300000"}, "GOMP_SPINCOUNT = '300000'"),  # the user's own value wins
        ({"OMP_WAIT_POLICY": "active"}, "OMP_WAIT_POLICY = 'ACTIVE'"),  # as does a wait policy
    ],
)
def test_nd4j_openmp_threads_spin_as_set(env, expected):
    """What ND4J's libgomp itself read at load (OMP_DISPLAY_ENV), in a fresh process."""
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SPIN_PROBE)],
        env={**clean, **env, "OMP_DISPLAY_ENV": "verbose"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    shown = [
        line.strip() for line in (result.stdout + result.stderr).splitlines() if "SPINCOUNT" in line or "WAIT" in line
    ]
    assert result.returncode == 0 and expected in shown, (result.returncode, shown, result.stderr[-2000:])
    if env.get("OMP_WAIT_POLICY"):
        assert "GOMP_SPINCOUNT = '20000'" not in shown, shown


OPENBLAS_IDLE_PROBE = """
    import os, time, numpy, bridge

    def native_threads_runnable():
        # Seconds the unnamed threads (OpenBLAS's and OpenMP's, not the JVM's own) spent runnable: on a CPU or
        # waiting in a run queue for one (/proc/.../schedstat). A yielding thread is runnable whether or not a busy
        # machine gives it a CPU, so this does not shrink under load as CPU time does.
        with open("/proc/self/comm") as comm:
            unnamed = comm.read().strip()  # native threads keep the process's name ("python", "python3", ...)
        nanoseconds = 0
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as stat:
                    text = stat.read()
                with open(f"/proc/self/task/{tid}/schedstat") as schedstat:
                    on_cpu, waiting, _ = map(int, schedstat.read().split())
            except FileNotFoundError:  # a thread that ended meanwhile
                continue
            if int(tid) != os.getpid() and text[text.index("(") + 1 : text.rindex(")")] == unnamed:
                nanoseconds += on_cpu + waiting
        return nanoseconds / 1e9

    bridge.start_jvm()
    a = bridge.to_indarray(numpy.ones((512, 512), numpy.float32))
    rounds = []
    for _ in range(3):  # the least of three rounds: a moment's wait for a CPU on a busy machine is not the rule
        for _ in range(5):
            a.mmul(a)  # OpenBLAS's sgemm, on its worker threads
        before = native_threads_runnable()
        time.sleep(0.5)
        rounds.append(native_threads_runnable() - before)
    print("rounds", rounds, "runnable", min(rounds))
"""


@pytest.mark.parametrize("timeout, busy", [(None, False), ("30", True)])
def test_idle_openblas_threads_sleep_unless_told_otherwise(timeout, busy):
    """After a matmul, OpenBLAS's worker thread yields for 2^OPENBLAS_THREAD_TIMEOUT cycles (time-stamp counter:
    wall time) before it sleeps: dl4j-bridge's default (2^4) sends it to sleep at once; a user's own value wins
    (30, OpenBLAS's largest: ~0.4 s of yielding; OpenBLAS's own 28 is ~0.1 s). Measured as time spent runnable,
    which holds on a busy machine: there a yielding thread gets little CPU time but stays runnable throughout.
    Seen with two CPU hogs on 2 cores: default 0-0.003 s, 28: 0.10 s, 30: 0.38-0.44 s (CPU time: 0-0.01 s for
    all three, which is why CPU time cannot tell them apart there). The default's bound sits below OpenBLAS's own
    28; under a load average of 10 one round of the default once waited 0.06 s for a CPU before going to sleep,
    hence the least of three rounds."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_NUM_THREADS")}
    env["OMP_NUM_THREADS"] = "2"  # ND4J gives OpenBLAS as many threads (an earlier test may have left 1 here)
    if timeout is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = timeout
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(OPENBLAS_IDLE_PROBE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runnable = float(result.stdout.split("runnable")[-1])
    assert (runnable >= 0.2) if busy else (runnable <= 0.05), (timeout, runnable)


JIT_PROBE = """
    import sys, bridge
    from bridge.jvm import jclass
    bridge.start_jvm(extra_flags=sys.argv[1:])
    bean = jclass("java.lang.management.ManagementFactory").getPlatformMXBean(
        jclass("com.sun.management.HotSpotDiagnosticMXBean"))
    print("level", bean.getVMOption("TieredStopAtLevel").getValue())
"""


@pytest.mark.parametrize(
    "flags, tool_options, level",
    [([], None, "1"), (["-XX:TieredStopAtLevel=4"], None, "4"), ([], "-XX:TieredStopAtLevel=3", "3")],
)
def test_jvm_compiles_with_c1_unless_told_otherwise(flags, tool_options, level):
    """C1 alone by default (C2's compiling competes with training on few cores); the caller's choice wins."""
    env = {k: v for k, v in os.environ.items() if k != "JAVA_TOOL_OPTIONS"}
    if tool_options:
        env["JAVA_TOOL_OPTIONS"] = tool_options
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(JIT_PROBE), *flags], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"level {level}" in result.stdout, result.stdout


RELEASE_PROBE = """
    import os, numpy, bridge
    from bridge.jvm import release_openmp_threads
    bridge.start_jvm()
    before = bridge.to_numpy(bridge.to_indarray(numpy.arange(1 << 20, dtype=numpy.float32)).mul(2.0))
    team = len(os.listdir("/proc/self/task"))
    released = release_openmp_threads()
    after_release = len(os.listdir("/proc/self/task"))
    again = bridge.to_numpy(bridge.to_indarray(numpy.arange(1 << 20, dtype=numpy.float32)).mul(2.0))
    print("RESULT", released, team - after_release, bool((before == again).all()), float(again[-1]))
"""


def test_release_openmp_threads_ends_the_idle_team_and_nd4j_still_computes():
    """bridge.fit releases the calling thread's idle OpenMP team before training on its worker thread (libgomp cuts
    every team's spinning once its threads outnumber the cores). The team's worker ends; ND4J recreates it."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RELEASE_PROBE)],
        env={**os.environ, "OMP_NUM_THREADS": "2"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next((row for row in result.stdout.splitlines() if row.startswith("RESULT")), None)
    assert line is not None, result.stderr[-2000:]
    released, ended, same, last = line.split()[1:]
    assert released == "True" and int(ended) >= 1, line
    assert same == "True" and float(last) == 2.0 * ((1 << 20) - 1), line


SIGTERM_PROBE = """
    import signal, sys, time, bridge
    bridge.start_jvm()
    if sys.argv[1] == "own-handler":
        def handler(signum, frame):
            print("handled", signum, flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, handler)
    bridge.to_indarray(__import__("numpy").zeros(4, "float32"))  # the JVM in use
    print("ready", flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("mode, status, says", [("default", 128 + 15, ""), ("own-handler", 7, "handled 15")])
def test_sigterm_ends_the_process_or_runs_the_scripts_handler(tmp_path, mode, status, says):
    """JPype hands SIGTERM to Python from a Java thread, which crashed the JVM while Python kept the default
    disposition: bridge makes it end the process as without a JVM (no crash log); a script's own handler runs."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SIGTERM_PROBE), mode],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(15)
        out, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == status
    assert says in out
    assert not list(tmp_path.glob("hs_err_pid*.log"))


def test_fit_leaves_no_attached_threads_behind_in_the_jvm(tmp_path):
    """Each fit trains on a Python thread that JPype attaches to the JVM at its first Java call; it must detach when
    it ends (it did not: one JVM thread leaked per fit, from arrays and from .npy streams alike)."""
    import numpy as np

    from bridge import nets
    from bridge.jvm import jclass
    from bridge.train.streams import NpyStream

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64).astype(np.int32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    stream = NpyStream(tmp_path / "x.npy", tmp_path / "y.npy", batch_size=16)
    net = nets.mlp(hidden=(8,))

    def threads() -> int:
        return len(jclass("java.lang.Thread").getAllStackTraces())

    bridge.fit(net, x, y, epochs=1, verbose=0)  # first: thread pools the training starts for good
    bridge.fit(net, stream, epochs=1, verbose=0)
    before = threads()
    for _ in range(4):
        bridge.fit(net, x, y, epochs=1, verbose=0)
        bridge.fit(net, stream, epochs=1, verbose=0)
    assert threads() - before < 4, "fit leaves attached threads in the JVM"
