"""conftest.py: what the package's tests share: the dln program and library of the build
under test (DLN_BIN, DLN_LIBRARY, else build/), a seeded generator (DLN_TEST_SEED, else a
fresh seed, printed so a failure can be replayed), and the CLI run as a subprocess."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DLN_LIBRARY", os.path.join(ROOT, "build", "libdln.so"))
sys.path.insert(0, os.path.join(ROOT, "python"))
DLN_BIN = os.path.abspath(os.environ.get("DLN_BIN", os.path.join(ROOT, "build", "dln")))


@pytest.fixture
def rng(request):
    env = os.environ.get("DLN_TEST_SEED")
    seed = int(env, 0) if env else (time.time_ns() ^ os.getpid()) % 2 ** 63
    print("seed %d (replay with DLN_TEST_SEED=%d)" % (seed, seed))
    return np.random.default_rng(seed)


def cli(*args, check=True):
    """Runs `dln ARGS`; returns (exit status, summary lines parsed, stderr)."""
    p = subprocess.run([DLN_BIN, *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError("dln %s: exit %d: %s" % (" ".join(map(str, args)), p.returncode, p.stderr))
    return p.returncode, [json.loads(line) for line in p.stdout.splitlines() if line.strip()], p.stderr


def teacher(rng, dx, dy, m, noise=0.1):
    """A random teacher problem: X (dx, m) ~ N(0,1), Y = T X / sqrt(dx) + noise."""
    X = rng.standard_normal((dx, m))
    Y = rng.standard_normal((dy, dx)) @ X / np.sqrt(dx) + noise * rng.standard_normal((dy, m))
    return X, Y


def save_npy(path, A):
    np.save(path, np.asfortranarray(A))
    return path


def save_set(directory, W):
    """Weights W1..WH as directory/W<k>.npy (Fortran order, as dln writes them)."""
    os.makedirs(directory, exist_ok=True)
    for i, w in enumerate(W):
        np.save(os.path.join(directory, "W%d.npy" % (i + 1)), np.asfortranarray(w))


def load_set(directory, depth):
    return [np.load(os.path.join(directory, "W%d.npy" % (i + 1))) for i in range(depth)]
