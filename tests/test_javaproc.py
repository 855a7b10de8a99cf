"""bridge.jvm.javaproc on real JVMs: a small Java program compiled here plays each kind of child (ready after a
line, silent, failing, chatty, starting a child of its own, ignoring SIGTERM). No wall-clock thresholds: the
bounds are the generous timeouts of the calls themselves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bridge.errors import SetupError, SparkError
from bridge.jvm import java_home
from bridge.jvm.javaproc import JavaProcess, java_command

PROBE = r"""
import java.net.InetAddress;
import java.net.ServerSocket;

public class Probe {
    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "ready":
                for (int i = 0; i < 50; i++) System.out.println("noise " + i);
                System.out.println("ready on 4242");
                break;
            case "silent":
                System.out.println("starting up, slowly");
                break;
            case "fail":
                System.err.println("boom: bad argument");
                System.exit(3);
            case "chatty":
                for (int i = 0; i < 200000; i++) System.out.println("line " + i + " of a chatty JVM's start-up");
                System.out.println("ready");
                break;
            case "child":
                Process child = new ProcessBuilder("sleep", "600").start();
                System.out.println("child " + child.pid());
                break;
            case "stubborn":
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    try { Thread.sleep(600_000); } catch (InterruptedException e) { }
                }));
                System.out.println("ready");
                break;
            case "port":
                ServerSocket server = new ServerSocket(Integer.parseInt(args[1]), 50, InetAddress.getLoopbackAddress());
                System.out.println("bound " + server.getLocalPort());
                break;
            case "stdin":
                System.out.println("ready");
                while (System.in.read() != -1) { }
                System.exit(0);
            default:
                throw new IllegalArgumentException(args[0]);
        }
        System.out.flush();
        Thread.sleep(600_000);
    }
}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("probe")
    (folder / "Probe.java").write_text(PROBE)
    subprocess.run([str(java_home() / "bin" / "javac"), "Probe.java"], cwd=folder, check=True, timeout=300)
    return folder


def _probe(probe: Path, *args: str, **options) -> JavaProcess:
    return JavaProcess(java_command("Probe", classpath=[probe], args=args), name="the probe", **options)


def _gone(pid: int, within: float = 60.0) -> bool:
    """Whether `pid` has exited (gone, or a zombie waiting for its reaper), polling up to `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


def test_java_command_builds_both_forms():
    assert java_command("a.Main", classpath=["x.jar", "y"], jvm_flags=["-Xmx1g"], args=["--port", 5], java="j") == [
        "j",
        "-Xmx1g",
        "-cp",
        os.pathsep.join(["x.jar", "y"]),
        "a.Main",
        "--port",
        "5",
    ]
    assert java_command(jar="s.jar", args=["-h"], java="j") == ["j", "-jar", "s.jar", "-h"]
    with pytest.raises(ValueError, match="exactly one of main_class and jar"):
        java_command("a.Main", jar="s.jar")


def test_ready_by_log_line_then_stopped_by_the_context_manager(probe):
    with _probe(probe, "ready", ready_line=r"ready on (\d+)") as process:
        assert process.running
        assert process.match.group(1) == "4242"
        assert "noise 0\n" in process.output
    assert not process.running
    assert process.poll() == -signal.SIGTERM or process.poll() == 128 + signal.SIGTERM


def test_exiting_before_ready_raises_with_the_exit_code_and_the_output(probe):
    process = _probe(probe, "fail", ready_line="never printed", error=SparkError)
    with pytest.raises(SparkError, match="the probe exited with code 3") as caught:
        process.start()
    assert "boom: bad argument" in str(caught.value)
    assert "Probe fail" in str(caught.value)  # the command


def test_not_ready_in_time_raises_with_the_log_tail_and_stops_it(probe, tmp_path):
    process = _probe(probe, "silent", ready_line="never printed", start_timeout=3, log_file=tmp_path / "p.log")
    with pytest.raises(SetupError, match=r"the probe was not ready within 3 s \(waiting for a line matching") as caught:
        process.start()
    assert "starting up, slowly" in str(caught.value)
    assert str(tmp_path / "p.log") in str(caught.value)
    assert process.poll() is not None, "a process that timed out was left running"
    assert "starting up, slowly" in (tmp_path / "p.log").read_text()


def test_ready_by_port(probe):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with _probe(probe, "port", str(port), ready_port=port) as process:
        with socket.create_connection(("127.0.0.1", port), timeout=30):
            pass
        assert process.running


def test_a_chatty_child_never_blocks_and_its_log_file_gets_every_line(probe, tmp_path):
    log = tmp_path / "chatty.log"
    with _probe(probe, "chatty", ready_line="^ready$", log_file=log, keep_lines=1000) as process:
        assert len(process.output) <= 1000
        assert process.tail(1) == "ready\n"
    assert log.read_text().count("\n") == 200_001


def test_stop_kills_the_process_group_with_the_children_it_started(probe):
    process = _probe(probe, "child", ready_line=r"child (\d+)").start()
    child = int(process.match.group(1))
    assert not _gone(child, within=0.5)
    process.stop()
    assert _gone(process.pid)
    assert _gone(child), f"the child (pid {child}) that the JVM started outlived stop()"


def test_stop_escalates_to_sigkill_when_sigterm_is_not_enough(probe):
    process = _probe(probe, "stubborn", ready_line="^ready").start()
    assert process.stop(grace=2) == -signal.SIGKILL


def test_kill_reaches_the_whole_group_at_once(probe):
    process = _probe(probe, "child", ready_line=r"child (\d+)").start()
    child = int(process.match.group(1))
    process.kill(signal.SIGKILL)
    assert _gone(child) and _gone(process.pid)
    assert process.stop() == -signal.SIGKILL


def test_a_stdin_pipe_stays_open_until_closed(probe):
    process = _probe(probe, "stdin", ready_line="^ready", stdin=True).start()
    try:
        assert process.running
        process.process.stdin.close()  # what stop() does first: the child sees end of input
        assert process.wait(60) == 0
    finally:
        process.stop()


def test_a_missing_java_is_a_setup_error(tmp_path):
    process = JavaProcess([str(tmp_path / "no-java"), "-version"], name="a JVM")
    with pytest.raises(SetupError, match="Cannot start a JVM"):
        process.start()
