"""Start N local training workers with a TF_CONFIG each: multi-worker training on one machine.

`dlapps launch --workers 2 train vision` runs `dlapps train vision
--strategy multi_worker` twice, on 127.0.0.1 with free ports, each with the
standard `TF_CONFIG` (the same cluster, its own task index), and streams
their output with a `[worker i]` prefix. If one worker fails, the others are
stopped and the launch fails; a worker that waits for a dead peer is
stopped after `--timeout` seconds.

It is for trying and testing multi-worker training on one machine. On real
machines, run the same `dlapps train ... --strategy multi_worker` on each
host with `TF_CONFIG` naming every host:

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' \\
        dlapps train vision --strategy multi_worker   # index 1 on host2
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

from dlapps.errors import UserError

# How long a stopped worker gets to exit before it is killed. TensorFlow's
# coordination service catches SIGTERM (as a preemption notice), so a worker
# blocked in a collective on a dead peer does not exit on it: waiting longer
# only delays the error.
STOP_GRACE_SECONDS = 3


def free_ports(count):
    """`count` distinct TCP ports that are free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(ports, index):
    """The TF_CONFIG JSON of worker `index` in a local cluster on `ports`."""
    workers = [f"127.0.0.1:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def _stream(process, index, output):
    for line in process.stdout:
        output.write(f"[worker {index}] {line}")
        output.flush()


def launch(train_args, workers=2, timeout=None, ports=None, output=None):
    """Runs `dlapps train <train_args> --strategy multi_worker` in `workers` processes.

    Args:
        train_args: the arguments after `dlapps train`, e.g. `["vision",
            "--epochs", "5"]`.
        workers: number of local worker processes.
        timeout: seconds after which every worker is stopped (None: no limit).
        ports: the workers' ports (default: free ones).
        output: where the prefixed logs go (default: stderr).

    Returns:
        0 when every worker finished successfully.

    Raises:
        UserError: a worker failed, or the timeout passed; every worker has
            been stopped.
    """
    if workers < 1:
        raise UserError(f"--workers {workers}: use 1 or more")
    output = sys.stderr if output is None else output
    ports = list(ports or free_ports(workers))
    if len(ports) != workers:
        raise UserError(f"{workers} workers need {workers} ports, got {len(ports)}")
    arguments = list(train_args)
    if "--strategy" not in arguments:
        arguments += ["--strategy", "multi_worker"]
    processes, threads = [], []
    for index in range(workers):
        environment = {**os.environ, "TF_CONFIG": tf_config(ports, index)}
        process = subprocess.Popen(
            [sys.executable, "-m", "dlapps.cli", "train", *arguments],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        processes.append(process)
        output.write(f"[launch] worker {index}: pid {process.pid}, port {ports[index]}\n")
        thread = threading.Thread(target=_stream, args=(process, index, output), daemon=True)
        thread.start()
        threads.append(thread)
    deadline = None if timeout is None else time.monotonic() + timeout
    failure = None
    try:
        while any(p.poll() is None for p in processes):
            failed = [i for i, p in enumerate(processes) if p.poll() not in (None, 0)]
            if failed:
                index = failed[0]
                failure = f"worker {index} exited with status {processes[index].returncode}"
                break
            if deadline is not None and time.monotonic() > deadline:
                failure = f"the workers did not finish within {timeout:g} s"
                break
            time.sleep(0.2)
        else:
            failed = [i for i, p in enumerate(processes) if p.returncode != 0]
            if failed:
                failure = f"worker {failed[0]} exited with status {processes[failed[0]].returncode}"
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for thread in threads:
            thread.join(timeout=5)
    if failure:
        raise UserError(
            f"multi-worker training failed: {failure}; every worker was stopped "
            f"(ports {', '.join(map(str, ports))}); see the [worker i] lines above"
        )
    return 0
