"""Peer implementations for scripts/peers in JAX: one jitted functional step called from a
Python loop ("jax.jit"), and the whole run as one jitted lax.fori_loop ("jax.jit(fori_loop)").
The same mathematics and order of operations as dln's trainer and scripts/peer_numpy.py.

They run on a GPU; without one they are skipped with a note, unless the driver is given
--frameworks-on-cpu (for testing the code on a machine without a GPU). fp64 needs
jax_enable_x64, set here; fp32 products run at "highest" precision (no TF32). The loop
is timed with time.perf_counter, the end synchronised by block_until_ready.
"""
import os
import time

import numpy as np

from peer_numpy import functional_step, loss as _loss_np, make_dloss, opts_loss

# JAX takes 75% of the GPU's memory at start unless told otherwise; PyTorch's peers run
# in the same process
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")




def variants(opts):
    try:
        import jax
    except Exception as e:
        return [("jax", None, "skipped: JAX not importable (%s)" % type(e).__name__)]
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_default_matmul_precision", "highest")
    import jax.numpy as jnp

    try:
        gpus = [d for d in jax.devices() if d.platform in ("gpu", "cuda", "rocm")]
    except Exception:
        gpus = []
    if gpus:
        dev, where = gpus[0], "gpu: %s" % gpus[0].device_kind
    elif opts.frameworks_on_cpu:
        dev, where = jax.devices("cpu")[0], "cpu (no GPU; --frameworks-on-cpu)"
    else:
        return [("jax", None, "skipped: no GPU for JAX (--frameworks-on-cpu runs it on the CPU)")]
    dtype = jnp.float64 if opts.precision == "fp64" else jnp.float32

    def to_dev(a):
        return jax.device_put(jnp.asarray(np.asarray(a), dtype=dtype), dev)

    dloss = make_dloss(*opts_loss(opts), tanh=jnp.tanh, clip=jnp.clip, exp=jnp.exp, sign=jnp.sign, absf=jnp.abs,
                       colmax=lambda Z: Z.max(axis=0, keepdims=True), colsum=lambda Z: Z.sum(axis=0, keepdims=True))

    def _step(Ws, X, Y, lr):
        return tuple(functional_step(Ws, X, Y, lr, dloss))

    step = jax.jit(_step)

    def finish(X, Y, Ws, sec):
        Wn = [np.asarray(W, dtype=np.float64) for W in Ws]
        return Wn, _loss_np(np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64), Wn, *opts_loss(opts)), sec

    def python_loop(X, Y, Ws, lr, steps):
        X, Y, Ws = to_dev(X), to_dev(Y), tuple(to_dev(W) for W in Ws)
        lr = dtype(lr)
        jax.block_until_ready(Ws)
        t0 = time.perf_counter()
        for _ in range(steps):
            Ws = step(Ws, X, Y, lr)
        jax.block_until_ready(Ws)
        sec = time.perf_counter() - t0
        return finish(X, Y, Ws, sec)

    loops = {}

    def fori(X, Y, Ws, lr, steps):
        if steps not in loops:

            def run_all(Ws, X, Y, lr):
                return jax.lax.fori_loop(0, steps, lambda _, w: _step(w, X, Y, lr), Ws)

            loops[steps] = jax.jit(run_all)
        X, Y, Ws = to_dev(X), to_dev(Y), tuple(to_dev(W) for W in Ws)
        lr = dtype(lr)
        jax.block_until_ready(Ws)
        t0 = time.perf_counter()
        Ws = loops[steps](Ws, X, Y, lr)
        jax.block_until_ready(Ws)
        sec = time.perf_counter() - t0
        return finish(X, Y, Ws, sec)

    note = "%s, jax %s" % (where, jax.__version__)
    return [("jax.jit", python_loop, note), ("jax.jit(fori_loop)", fori, note)]
