"""_lib.py: the ctypes layer of the dln package: finds and loads libdln.so, mirrors the
public structs of include/dln/*.h field by field, and declares the prototypes of the calls
the package makes. Nothing here allocates on the library's behalf or interprets results.

ctypes rather than cffi: it is in the standard library, so installing the package needs no
compiler, no Python headers and no build step beyond copying libdln.so. Its one weakness,
struct layouts written twice, is guarded by a test (python/tests/test_layout.py) that
compiles a C program against the real headers and compares every size and offset below.
"""
import ctypes as C
import os

# ---- the structs (include/dln/error.h, data.h, model.h, solver.h, trainer.h) ----------


class Error(C.Structure):  # dln_error
    _fields_ = [("code", C.c_int), ("msg", C.c_char * 512)]


class Data(C.Structure):  # dln_data: X (dx, m), Y (dy, m), column-major
    _fields_ = [("dx", C.c_int), ("dy", C.c_int), ("m", C.c_int),
                ("X", C.POINTER(C.c_double)), ("Y", C.POINTER(C.c_double))]


class SynthOpts(C.Structure):  # dln_synth_opts
    _fields_ = [("dx", C.c_int), ("dy", C.c_int), ("m", C.c_int), ("teacher_rank", C.c_int),
                ("noise", C.c_double), ("seed", C.c_uint64)]


class Shape(C.Structure):  # dln_shape
    _fields_ = [("depth", C.c_int), ("dims", C.POINTER(C.c_int))]


class Shallow(C.Structure):  # dln_shallow
    _fields_ = [("dx", C.c_int), ("dy", C.c_int), ("m", C.c_int), ("k", C.c_int),
                ("rank_x", C.c_int), ("rank_y", C.c_int), ("tol_x", C.c_double), ("tol_y", C.c_double),
                ("optimum", C.c_double), ("lstsq", C.c_double), ("y_half", C.c_double), ("tail", C.c_double),
                ("sigma_k", C.c_double), ("sigma_k1", C.c_double), ("constrained", C.c_int),
                ("hypotheses", C.c_int), ("cond_x", C.c_double), ("r", C.c_int),
                ("sx", C.POINTER(C.c_double)), ("sm", C.POINTER(C.c_double)),
                ("optimum_by_rank", C.POINTER(C.c_double)), ("n_ranks", C.c_int),
                ("C", C.POINTER(C.c_double)), ("M", C.POINTER(C.c_double)), ("route", C.c_int),
                ("qr_blocks", C.c_int), ("qr_block_rows", C.c_int)]


class ShallowOpts(C.Structure):  # dln_shallow_opts
    _fields_ = [("k", C.c_int), ("rtol", C.c_double), ("keep_compressed", C.c_int), ("route", C.c_int),
                ("block_rows", C.c_int)]


class Observation(C.Structure):  # dln_observation
    _fields_ = [("step", C.c_long), ("loss", C.c_double), ("gap", C.c_double), ("rel_gap", C.c_double),
                ("grad_norm", C.c_double), ("lr", C.c_double), ("time", C.c_double), ("seconds", C.c_double),
                ("final", C.c_int),
                ("product_sv", C.POINTER(C.c_double)), ("n_product_sv", C.c_int),
                ("effective_rank", C.c_double), ("mode_strength", C.POINTER(C.c_double)),
                ("target_sv", C.POINTER(C.c_double)), ("n_modes", C.c_int),
                ("layer_norms", C.POINTER(C.c_double)), ("n_layers", C.c_int),
                ("balancedness", C.c_double), ("sharpness", C.c_double), ("sharpness_est", C.c_double)]


OBSERVER = C.CFUNCTYPE(C.c_int, C.c_void_p, C.POINTER(Observation))  # dln_observer_fn


class TrainOpts(C.Structure):  # dln_train_opts
    _fields_ = [("lr", C.c_double), ("lr_rule", C.c_int), ("reestimate_every", C.c_int),
                ("momentum", C.c_double), ("line_search", C.c_int), ("steps", C.c_long), ("tol", C.c_double),
                ("grad_tol", C.c_double), ("loss_tol", C.c_double),
                ("check_every", C.c_int), ("observe_every", C.c_int), ("observer", OBSERVER),
                ("observer_ctx", C.c_void_p), ("observe", C.c_uint), ("sharpness_every", C.c_int),
                ("sharpness_iters", C.c_int), ("data_mode", C.c_int), ("dtype", C.c_int)]


class TrainResult(C.Structure):  # dln_train_result
    _fields_ = [("loss", C.c_double), ("optimum", C.c_double), ("gap", C.c_double), ("rel_gap", C.c_double),
                ("grad_norm", C.c_double), ("loss_init", C.c_double), ("time", C.c_double), ("lr", C.c_double),
                ("lr_init", C.c_double),
                ("sharpness_init", C.c_double), ("sharpness", C.c_double), ("lr_changes", C.c_int),
                ("lr_capped", C.c_int), ("seconds", C.c_double), ("steps", C.c_long), ("converged", C.c_int),
                ("diverged", C.c_int), ("compressed", C.c_int), ("stop", C.c_int), ("verdict", C.c_int),
                ("verdict_rank", C.c_int), ("grad_rel", C.c_double), ("steps_to_tol", C.c_double),
                ("verdict_skipped", C.c_int), ("verdict_added", C.c_int)]


class Fit(C.Structure):  # dln_fit
    _fields_ = [("objective", C.c_void_p), ("dx", C.c_int), ("dy", C.c_int), ("m", C.c_int),
                ("X", C.POINTER(C.c_double)), ("Y", C.POINTER(C.c_double)), ("r", C.c_int),
                ("C", C.POINTER(C.c_double)), ("M", C.POINTER(C.c_double)), ("offset", C.c_double)]


class Reference(C.Structure):  # dln_reference
    _fields_ = [("kind", C.c_int), ("optimum", C.c_double), ("optimum_compressed", C.c_double),
                ("zero_loss", C.c_double), ("rank_bound", C.c_int), ("by_rank", C.POINTER(C.c_double)),
                ("n_ranks", C.c_int), ("target_sv", C.POINTER(C.c_double)), ("grad_scale", C.c_double),
                ("input_norm", C.c_double), ("lstsq_norm", C.c_double), ("first_mode", C.POINTER(C.c_double)),
                ("n_modes", C.c_int), ("r", C.c_int), ("mode_U", C.POINTER(C.c_double)),
                ("mode_VT", C.POINTER(C.c_double)), ("mode_sv", C.POINTER(C.c_double)),
                ("C", C.POINTER(C.c_double))]


# the structs and the C names the layout test compares them with
STRUCTS = {"dln_error": Error, "dln_data": Data, "dln_synth_opts": SynthOpts, "dln_shape": Shape,
           "dln_shallow": Shallow, "dln_shallow_opts": ShallowOpts, "dln_observation": Observation,
           "dln_train_opts": TrainOpts, "dln_train_result": TrainResult, "dln_fit": Fit, "dln_reference": Reference}

# enum values (include/dln/*.h)
OK, EINPUT, ERUNTIME, ENOMEM = 0, 2, 3, 4
BACKENDS = {"auto": 0, "cpu": 1, "cuda": 2}
MATH_DEFAULT, MATH_TF32 = 0, 1
CAP_TF32 = 2
F64, F32 = 0, 1
LR_SHARPNESS, LR_ARORA = 0, 1
DATA_MODES = {"auto": 0, "full": 1, "compressed": 2}
ROUTES = {0: "auto", 1: "svd", 2: "qr"}
STOPS = {0: "converged", 1: "step_limit", 2: "diverged", 3: "no_decrease", 4: "observer", 5: "grad_tol",
         6: "loss_tol"}
TRAIN_NOTE_MAX = 512  # DLN_TRAIN_NOTE_MAX: dln_train_describe's note with its NUL

P = C.POINTER
DP = P(C.c_double)
DPP = P(DP)
_PROTOTYPES = {  # name: (restype, argtypes)
    "dln_error_clear": (None, [P(Error)]),
    "dln_backend_create": (C.c_int, [C.c_int, P(Error), P(C.c_void_p), P(C.c_char_p)]),
    "dln_backend_destroy": (None, [C.c_void_p]),
    "dln_backend_name": (C.c_char_p, [C.c_void_p]),
    "dln_backend_set_threads": (C.c_int, [C.c_void_p, C.c_int]),
    "dln_backend_threads": (C.c_int, [C.c_void_p]),
    "dln_backend_supports": (C.c_int, [C.c_void_p, C.c_uint]),
    "dln_backend_set_math": (C.c_int, [C.c_void_p, C.c_int]),
    "dln_backends_compiled": (C.c_char_p, []),
    "dln_backend_available": (C.c_int, [C.c_int]),
    "dln_devices_describe": (None, [C.c_char_p, C.c_size_t]),
    "dln_synth_make": (C.c_int, [P(SynthOpts), P(Data), P(Error)]),
    "dln_data_validate": (C.c_int, [P(Data), P(Error)]),
    "dln_data_free": (None, [P(Data)]),
    "dln_shallow_opts_default": (None, [P(ShallowOpts)]),
    "dln_shallow_solve_opts": (C.c_int, [C.c_void_p, P(Data), P(ShallowOpts), P(Shallow), P(Error)]),
    "dln_shallow_free": (None, [P(Shallow)]),
    "dln_shallow_solution": (C.c_int, [P(Shallow), C.c_int, DP, P(Error)]),
    "dln_solver_route_parse": (C.c_int, [C.c_char_p, P(C.c_int)]),
    "dln_shape_make": (C.c_int, [C.c_int, C.c_int, C.c_int, P(C.c_int), C.c_int, P(Shape), P(Error)]),
    "dln_shape_free": (None, [P(Shape)]),
    "dln_shape_narrowest": (C.c_int, [P(Shape)]),
    "dln_init_parse": (C.c_int, [C.c_char_p, P(C.c_int)]),
    "dln_init_weights": (C.c_int, [P(Shape), C.c_int, C.c_double, C.c_uint64, P(DPP), P(Error)]),
    "dln_weights_alloc": (C.c_int, [P(Shape), P(DPP), P(Error)]),
    "dln_weights_free": (None, [C.c_int, DPP]),
    "dln_weights_save": (C.c_int, [C.c_char_p, P(Shape), DPP, P(Error)]),
    "dln_weights_load": (C.c_int, [C.c_char_p, C.c_int, C.c_int, P(Shape), P(DPP), P(Error)]),
    "dln_train_opts_default": (None, [P(TrainOpts)]),
    "dln_shallow_problem": (C.c_int, [P(Shallow), P(Data), P(Fit), P(Reference), P(Error)]),
    "dln_reference_free": (None, [P(Reference)]),
    "dln_train": (C.c_int, [C.c_void_p, P(Fit), P(Reference), P(Shape), C.c_int, P(DPP), P(TrainOpts),
                            P(TrainResult), P(Error)]),
    "dln_verdict_name": (C.c_char_p, [C.c_int]),
    "dln_balancedness_cheap": (C.c_int, [P(Shape)]),
    "dln_weights_balancedness": (C.c_double, [P(Shape), DPP]),
    "dln_train_describe": (None, [P(TrainResult), P(TrainOpts), C.c_char_p, C.c_size_t]),
}


def _candidates():
    """Where libdln.so may be: $DLN_LIBRARY, the copy installed with the package, the
    build folder of the source tree this package sits in (python/dln -> build/)."""
    env = os.environ.get("DLN_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.join(here, "libdln.so"), os.path.join(here, "..", "..", "build", "libdln.so")]


def _load():
    tried = []
    for path in _candidates():
        if os.path.exists(path):
            lib = C.CDLL(os.path.abspath(path))
            for name, (res, args) in _PROTOTYPES.items():
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = res, args
            return lib, os.path.abspath(path)
        tried.append(path)
    raise ImportError("dln: libdln.so not found (tried %s); build it with `make` in the source tree, "
                      "or set DLN_LIBRARY to its path" % ", ".join(tried))


lib, path = _load()
