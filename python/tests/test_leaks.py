"""No leak over 1,000 calls: Python objects (tracemalloc) and the C heap as glibc counts it
(mallinfo2: bytes in use), which is where the library allocates."""
import ctypes as C
import gc
import tracemalloc

import dln
from conftest import teacher


class MallInfo2(C.Structure):
    _fields_ = [(n, C.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                                          "uordblks", "fordblks", "keepcost")]


def c_heap_in_use():
    libc = C.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    m = libc.mallinfo2()
    return m.uordblks + m.hblkhd


def test_a_thousand_calls_do_not_grow_the_heaps(rng):
    X, Y = teacher(rng, 4, 3, 12)

    def calls(n):
        for i in range(n):
            dln.train(X, Y, depth=2, width=2, steps=3, seeds=[1, 2] if i % 2 else None, on_step=lambda r: None)
            dln.solve(X, Y, rank=1)
            try:
                dln.train(X, Y, init="none")
            except dln.InputError:
                pass
        gc.collect()

    calls(50)  # warm up: caches of numpy, ctypes, BLAS threads
    c0 = c_heap_in_use()
    calls(1000)
    c1 = c_heap_in_use()
    tracemalloc.start()  # separately: its own bookkeeping lives on the C heap
    p0 = tracemalloc.get_traced_memory()[0]
    calls(1000)
    p1 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # one leaked weight matrix per call would be >= 16 bytes x 1,000 x 3 calls; 64 KiB of
    # slack covers allocator bookkeeping
    assert c1 - c0 < 65536, "C heap grew by %d bytes over 1,000 calls" % (c1 - c0)
    assert p1 - p0 < 65536, "Python heap grew by %d bytes over 1,000 calls" % (p1 - p0)
