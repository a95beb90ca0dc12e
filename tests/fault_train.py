"""Run train.py's main with a fault hook, for the kill/interrupt tests (a test harness, not a test file).

    python tests/fault_train.py <train.py flags>

Environment: FAULT_MODE=pause (after each `latest` save from iteration FAULT_AFTER on, write the
iteration count to FAULT_MARKER and sleep 0.3 s, giving the test a window to send a signal) or
FAULT_MODE=hang (the first `latest` save from iteration FAULT_AFTER on writes half the file, writes
FAULT_MARKER and hangs, so the test can kill the process in the middle of a checkpoint write).
"""
import io
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import train  # noqa: E402
from util import checkpoint  # noqa: E402

torch.set_num_threads(1)  # the same arithmetic as the in-process runs of the tests
MODE, AFTER, MARKER = os.environ["FAULT_MODE"], int(os.environ["FAULT_AFTER"]), os.environ["FAULT_MARKER"]
real_save_atomic, real_torch_save = checkpoint.save_atomic, torch.save


def mark(total_iters: int) -> None:
    with open(MARKER + ".part", "w") as f:
        f.write(str(total_iters))
    os.replace(MARKER + ".part", MARKER)


def half_write_and_hang(obj, f) -> None:
    buffer = io.BytesIO()
    real_torch_save(obj, buffer)
    f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    f.flush()
    mark(obj["total_iters"])
    time.sleep(600)


def faulty_save_atomic(state, path):
    due = path.endswith("latest.pt") and state["total_iters"] >= AFTER
    if due and MODE == "hang":
        torch.save = half_write_and_hang
    real_save_atomic(state, path)
    if due and MODE == "pause":
        mark(state["total_iters"])
        time.sleep(0.3)


checkpoint.save_atomic = faulty_save_atomic  # Checkpointer.save writes through it
train.main(sys.argv[1:])
