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


# ---------------------------------------------------------------------------------------
# Deep matrix completion (scripts/peers --completion; the problem is defined in
# scripts/peer_numpy.py): R = W_H ... W_1, L = 1/2 sum over the observed entries of
# (R_ij - v)^2. Variants, on the CPU unless a GPU is there (fp64, torch.set_num_threads(opts.threads)):
#   torch-autograd   the loop researchers write (Arora, Cohen, Hu & Luo 2019, their
#                    main.py): the weights as parameters, the end-to-end product, the loss on
#                    the gathered entries, loss.backward(), torch.optim.SGD(lr).step(); their
#                    per-step diagnostics (test loss, parameter norm, SVD) left out
#   torch-manual     eager, the gradients written out (the numpy peer's order of operations,
#                    in-place updates under no_grad)
# and for a batch of members (completion_batch_variants):
#   torch-autograd (sequential)  the researchers' loop run for each member in turn, one process
#   torch-bmm (batched)          all members' weights stacked, (B, out, in), one batched matmul
#                                per product of the step, the gradients written out: the
#                                best case of a peer
# ---------------------------------------------------------------------------------------


def _completion_setup(opts):
    import torch
    if torch.cuda.is_available():
        dev = torch.device("cuda")
        where = "cuda: %s" % torch.cuda.get_device_name(0)
    else:
        dev = torch.device("cpu")
        torch.set_num_threads(opts.threads)
        where = "cpu, %d threads" % torch.get_num_threads()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return torch, dev, "%s, torch %s" % (where, torch.__version__)


def _completion_tools(torch, dev, rows, cols):
    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def tensor(a):
        return torch.tensor(np.ascontiguousarray(a), dtype=torch.float64, device=dev)

    def data(E):
        E = np.asarray(E, dtype=np.float64)
        r = torch.as_tensor(E[:, 0].astype(np.int64), device=dev)
        c = torch.as_tensor(E[:, 1].astype(np.int64), device=dev)
        M = torch.zeros((rows, cols), dtype=torch.float64, device=dev)
        Yobs = torch.zeros((rows, cols), dtype=torch.float64, device=dev)
        M[r, c] = 1.0
        Yobs[r, c] = tensor(E[:, 2])
        return r, c, tensor(E[:, 2]), M, Yobs

    return sync, tensor, data


def _autograd_loop(torch, params, r, c, v, lr, steps):
    """The researchers' loop: product, loss on the gathered entries, backward, SGD step."""
    opt = torch.optim.SGD(params, lr=lr)
    for _ in range(steps):
        R = params[0]
        for W in params[1:]:
            R = W @ R
        loss = 0.5 * (R[r, c] - v).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()


def _manual_step(Ws, M, Yobs, lr):
    """One GD step with the gradients written out, in place; works on (out, in) matrices and on
    (B, out, in) stacks alike (matmul batches, .mT transposes the last two dimensions)."""
    H = len(Ws)
    A = [Ws[0]]
    for W in Ws[1:]:
        A.append(W @ A[-1])
    B = M * (A[H - 1] - Yobs)
    for i in range(H - 1, -1, -1):
        if i > 0:
            G = B @ A[i - 1].mT
            B = Ws[i].mT @ B  # with W_i before its update
        else:
            G = B
        Ws[i].sub_(G, alpha=lr)


def completion_variants(opts):
    try:
        torch, dev, note = _completion_setup(opts)
    except Exception as e:
        return [("torch", None, "skipped: PyTorch not importable (%s)" % type(e).__name__)]
    sync, tensor, data = _completion_tools(torch, dev, opts.rows, opts.cols)
    from peer_numpy import completion_loss

    def finish(E, Ws, sec):
        Wn = [W.detach().cpu().numpy().astype(np.float64) for W in Ws]
        return Wn, completion_loss(E, Wn), sec

    def autograd(E, Ws, lr, steps):
        r, c, v, _, _ = data(E)
        params = [torch.nn.Parameter(tensor(W)) for W in Ws]
        sync()
        t0 = time.perf_counter()
        _autograd_loop(torch, params, r, c, v, lr, steps)
        sync()
        return finish(E, params, time.perf_counter() - t0)

    def manual(E, Ws, lr, steps):
        _, _, _, M, Yobs = data(E)
        Ws = [tensor(W) for W in Ws]
        with torch.no_grad():
            sync()
            t0 = time.perf_counter()
            for _ in range(steps):
                _manual_step(Ws, M, Yobs, lr)
            sync()
            sec = time.perf_counter() - t0
        return finish(E, Ws, sec)

    return [("torch-autograd", autograd, note + ", autograd + optim.SGD (researchers' loop)"),
            ("torch-manual", manual, note + ", gradients written out")]


def completion_batch_variants(opts):
    try:
        torch, dev, note = _completion_setup(opts)
    except Exception as e:
        return [("torch", None, "skipped: PyTorch not importable (%s)" % type(e).__name__)]
    sync, tensor, data = _completion_tools(torch, dev, opts.rows, opts.cols)
    from peer_numpy import completion_loss

    def sequential(E, members, lr, steps):
        r, c, v, _, _ = data(E)
        params = [[torch.nn.Parameter(tensor(W)) for W in Ws] for Ws in members]
        sync()
        t0 = time.perf_counter()
        for ps in params:
            _autograd_loop(torch, ps, r, c, v, lr, steps)
        sync()
        sec = time.perf_counter() - t0
        out = [[W.detach().cpu().numpy().astype(np.float64) for W in ps] for ps in params]
        return out, [completion_loss(E, Ws) for Ws in out], sec

    def batched(E, members, lr, steps):
        _, _, _, M, Yobs = data(E)
        H = len(members[0])
        Ws = [tensor(np.stack([m[i] for m in members])) for i in range(H)]
        with torch.no_grad():
            sync()
            t0 = time.perf_counter()
            for _ in range(steps):
                _manual_step(Ws, M, Yobs, lr)
            sync()
            sec = time.perf_counter() - t0
        stacks = [W.cpu().numpy() for W in Ws]
        out = [[stacks[i][b].astype(np.float64) for i in range(H)] for b in range(len(members))]
        return out, [completion_loss(E, Ws) for Ws in out], sec

    return [("torch-autograd (sequential)", sequential, note + ", researchers' loop for each member in turn"),
            ("torch-bmm (batched)", batched, note + ", members stacked, batched matmul, gradients written out")]


def completion_process_main(argv):
    """One configuration in a process of its own, as a researcher's script runs:
    peer_torch.py completion E.npy INIT_DIR DEPTH LR STEPS THREADS ROWS COLS -> one JSON line
    (loss, seconds of the loop). The driver times the whole process (interpreter and torch
    import included)."""
    import json
    Epath, init, H, lr, steps, threads, rows, cols = argv
    H, steps, threads, rows, cols, lr = int(H), int(steps), int(threads), int(rows), int(cols), float(lr)
    import types
    opts = types.SimpleNamespace(threads=threads, rows=rows, cols=cols)
    E = np.load(Epath)
    Ws = [np.load("%s/W%d.npy" % (init, i + 1)) for i in range(H)]
    run = dict((n, f) for n, f, _ in completion_variants(opts))["torch-autograd"]
    _, L, sec = run(E, Ws, lr, steps)
    print(json.dumps({"loss": L, "seconds": sec, "steps": steps}))


if __name__ == "__main__":
    import sys
    if len(sys.argv) > 1 and sys.argv[1] == "completion":
        completion_process_main(sys.argv[2:])
    else:
        sys.exit("usage: peer_torch.py completion E.npy INIT_DIR DEPTH LR STEPS THREADS ROWS COLS")
