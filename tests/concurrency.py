"""Running one client function on several threads at once, as the service tests' concurrent clients do."""

from __future__ import annotations

import threading


def run_in_threads(target, args_per_thread, timeout: float) -> list[threading.Thread]:
    """Starts target(*args) on one thread per entry of args_per_thread, waits up to `timeout` s for each, and
    returns the threads (a caller that must know they all ended checks is_alive)."""
    threads = [threading.Thread(target=target, args=args) for args in args_per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return threads
