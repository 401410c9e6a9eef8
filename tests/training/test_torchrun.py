"""Multi-node training, shown on one machine: two `torchrun` launchers as two nodes of one job.

This is what `deploy/kubernetes/training/` runs on a cluster (one launcher per pod of an Indexed Job),
with the cluster's names replaced by loopback: each launcher is `--nnodes=2 --nproc-per-node=1` with its
own `--node-rank`, and both meet through a c10d rendezvous on 127.0.0.1. On the CPU the process group
is gloo. The run must finish, the ranks must agree on the generator's weights (the loop's own check),
and the exported checkpoint must load in the service's loader.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gan.checkpoint import load_generator
from tests.conftest import free_port, write_images
from training.export import export_run
from training.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 80  # the whole test must stay well under 90 s on 2 cores


def launcher(node_rank: int, port: int, faces: Path, out_dir: Path) -> list[str]:
    """One node's command: the same flags as the Job's pods, with loopback as the rendezvous host."""
    return [
        sys.executable, "-m", "torch.distributed.run",
        "--nnodes=2", "--nproc-per-node=1", f"--node-rank={node_rank}",
        "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=test-torchrun",
        "--local-addr=127.0.0.1", "--max-restarts=0",
        "-m", "training", "train", "--preset", "sngan-64", "--data", str(faces),
        "--set", "g_channels=8", "--set", "d_channels=8", "--set", "batch_size=8", "--set", "max_steps=3",
        "--set", "eval_every=0", "--set", "log_every=1", "--set", "threads=1", "--set", "device=cpu",
        "--set", f"out_dir={out_dir}", "--set", "run_name=two-nodes",
    ]  # fmt: skip


@pytest.mark.slow
def test_two_torchrun_nodes_train_in_step_and_export_a_loadable_generator(tmp_path: Path) -> None:
    # 32 images, global batch 8 (4 per node): 4 steps an epoch, so 3 steps end before the epoch's grids
    faces = write_images(tmp_path / "faces", 32, size=64)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": "1",
        # the gloo transport and the c10d store on loopback only (on a cluster: the pod's interface)
        "GLOO_SOCKET_IFNAME": "lo",
        "MASTER_ADDR": "127.0.0.1",
    }
    logs = [tmp_path / f"node{rank}.log" for rank in (0, 1)]
    nodes = []
    for rank, log in enumerate(logs):
        with log.open("w") as out:
            nodes.append(subprocess.Popen(launcher(rank, port, faces, tmp_path), cwd=ROOT, env=env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True))  # fmt: skip
    try:
        codes = [node.wait(timeout=TIMEOUT_S) for node in nodes]
    finally:
        for node in nodes:  # only the launchers this test started, each with its own process group
            if node.poll() is None:
                os.killpg(node.pid, 9)
                node.wait()
    output = "\n".join(f"--- node {rank}\n{log.read_text()}" for rank, log in enumerate(logs))
    assert codes == [0, 0], output

    run = tmp_path / "two-nodes"
    environment = json.loads((run / "environment.json").read_text())
    assert environment["processes"] == 2
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]  # one writer: global rank 0
    assert load_snapshot(run / "snapshot.pt")["step"] == 3
    assert output.count("all 2 ranks agree on the generator weights") >= 1, output
    assert "ranks disagree" not in output

    exported = tmp_path / "two-nodes.safetensors"
    export_run(run, exported)  # what `python -m training export` does, in this process
    generator, info = load_generator(exported)
    assert info.config.channels == 8 and not generator.training
