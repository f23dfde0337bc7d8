"""Peer implementations for scripts/peers in PyTorch: eager (in-place updates under
no_grad), the eager step captured once into a CUDA graph and replayed (torch.cuda.graph,
as dln replays its captured step), torch.compile of one functional step (default mode),
and torch.compile with mode="reduce-overhead" (CUDA graphs). The same mathematics and order of operations as
dln's trainer and scripts/peer_numpy.py; gradients are written out, not taken by
autograd, so every implementation runs the same 3H - 1 matrix products per step.

They run on a CUDA GPU; without one they are skipped with a note, unless the driver is
given --frameworks-on-cpu (for testing the code on a machine without a GPU).
The loop is timed with time.perf_counter between two torch.cuda.synchronize() calls.
fp32 matrix products are kept in full fp32 (no TF32), like dln --precision fp32.
"""
import time

import numpy as np

from peer_numpy import functional_step as _step_functional, loss as _loss_np, make_dloss, opts_loss


def _step_inplace(Ws, X, Y, lr, dloss):
    H = len(Ws)
    A = [X]
    for W in Ws:
        A.append(W @ A[-1])
    B = dloss(A[H], Y)
    for i in range(H - 1, -1, -1):
        G = B @ A[i].T
        if i > 0:
            B = Ws[i].T @ B  # with W_i before its update
        Ws[i].sub_(G, alpha=lr)


def variants(opts):
    try:
        import torch
    except Exception as e:  # not installed, or broken
        return [("torch", None, "skipped: PyTorch not importable (%s)" % type(e).__name__)]
    if torch.cuda.is_available():
        dev = torch.device("cuda")
        where = "cuda: %s" % torch.cuda.get_device_name(0)
    elif opts.frameworks_on_cpu:
        dev = torch.device("cpu")
        where = "cpu (no GPU; --frameworks-on-cpu)"
    else:
        return [("torch", None, "skipped: no CUDA GPU for PyTorch (--frameworks-on-cpu runs it on the CPU)")]
    dtype = torch.float64 if opts.precision == "fp64" else torch.float32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")

    dloss = make_dloss(*opts_loss(opts), tanh=torch.tanh, clip=torch.clamp, exp=torch.exp, sign=torch.sign,
                       absf=torch.abs, colmax=lambda Z: Z.amax(dim=0, keepdim=True),
                       colsum=lambda Z: Z.sum(dim=0, keepdim=True))

    def step_functional(Ws, X, Y, lr):
        return _step_functional(Ws, X, Y, lr, dloss)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def to_dev(a):
        return torch.tensor(np.ascontiguousarray(a), dtype=dtype, device=dev)

    def finish(X, Y, Ws, sec):
        Wn = [W.detach().double().cpu().numpy() for W in Ws]
        return Wn, _loss_np(X.double().cpu().numpy(), Y.double().cpu().numpy(), Wn, *opts_loss(opts)), sec

    def eager(X, Y, Ws, lr, steps):
        X, Y, Ws = to_dev(X), to_dev(Y), [to_dev(W) for W in Ws]
        with torch.no_grad():
            sync()
            t0 = time.perf_counter()
            for _ in range(steps):
                _step_inplace(Ws, X, Y, lr, dloss)
            sync()
            sec = time.perf_counter() - t0
        return finish(X, Y, Ws, sec)

    def cudagraph(X, Y, Ws, lr, steps):
        X, Y, Ws = to_dev(X), to_dev(Y), [to_dev(W) for W in Ws]
        W0 = [W.clone() for W in Ws]
        with torch.no_grad():
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm-up before capture, as PyTorch asks
                for _ in range(3):
                    _step_inplace(Ws, X, Y, lr, dloss)
            torch.cuda.current_stream().wait_stream(side)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):  # records, does not run
                _step_inplace(Ws, X, Y, lr, dloss)
            for W, w0 in zip(Ws, W0):  # undo the warm-up steps
                W.copy_(w0)
            sync()
            t0 = time.perf_counter()
            for _ in range(steps):
                g.replay()
            sync()
            sec = time.perf_counter() - t0
        return finish(X, Y, Ws, sec)

    compiled = {}

    def compiled_runner(mode):
        def run(X, Y, Ws, lr, steps):
            key = (mode, len(Ws))
            if key not in compiled:
                kw = {"fullgraph": True, "dynamic": False}
                if mode:
                    kw["mode"] = mode
                compiled[key] = torch.compile(step_functional, **kw)
            fn = compiled[key]
            X, Y, Ws = to_dev(X), to_dev(Y), [to_dev(W) for W in Ws]
            mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)
            with torch.no_grad():
                sync()
                t0 = time.perf_counter()
                for _ in range(steps):
                    if mode and mark:
                        mark()
                    Ws = fn(Ws, X, Y, lr)
                sync()
                sec = time.perf_counter() - t0
                Ws = [W.clone() for W in Ws]  # out of the CUDA graph's memory pool
            return finish(X, Y, Ws, sec)

        return run

    note = "%s, torch %s" % (where, torch.__version__)
    out = [("torch-eager", eager, note), ("torch.compile", compiled_runner(None), note)]
    if dev.type == "cuda":
        out.insert(1, ("torch-cudagraph", cudagraph, note + ", one step captured, replayed"))
        out.append(("torch.compile(reduce-overhead)", compiled_runner("reduce-overhead"), note + ", CUDA graphs"))
    return out
