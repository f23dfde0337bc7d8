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

# ---- the structs (include/dln/error.h, data.h, model.h, trainer.h, experiment.h) -------


class Error(C.Structure):  # dln_error
    _fields_ = [("code", C.c_int), ("msg", C.c_char * 512)]


class Data(C.Structure):  # dln_data: X (dx, m), Y (dy, m), column-major
    _fields_ = [("dx", C.c_int), ("dy", C.c_int), ("m", C.c_int),
                ("X", C.POINTER(C.c_double)), ("Y", C.POINTER(C.c_double))]


class SynthOpts(C.Structure):  # dln_synth_opts
    _fields_ = [("dx", C.c_int), ("dy", C.c_int), ("m", C.c_int), ("teacher_rank", C.c_int),
                ("noise", C.c_double), ("seed", C.c_uint64), ("labels", C.c_int)]


class ObjectiveParams(C.Structure):  # dln_objective_params
    _fields_ = [("weights", C.POINTER(C.c_double)), ("n_weights", C.c_int), ("p", C.c_double), ("delta", C.c_double),
                ("matrix", C.c_void_p)]


class MatrixSynthOpts(C.Structure):  # dln_matrix_synth_opts
    _fields_ = [("kind", C.c_int), ("rows", C.c_int), ("cols", C.c_int), ("target_rank", C.c_int),
                ("observed", C.c_int), ("noise", C.c_double), ("seed", C.c_uint64)]


class FlowStats(C.Structure):  # dln_flow_stats
    _fields_ = [("t", C.c_double), ("accepted", C.c_long), ("rejected", C.c_long), ("evaluations", C.c_long),
                ("last_h", C.c_double), ("loss", C.c_double), ("grad_norm", C.c_double), ("reached", C.c_int)]


class Shape(C.Structure):  # dln_shape
    _fields_ = [("depth", C.c_int), ("dims", C.POINTER(C.c_int))]


class Observation(C.Structure):  # dln_observation
    _fields_ = [("step", C.c_long), ("loss", C.c_double), ("gap", C.c_double), ("rel_gap", C.c_double),
                ("grad_norm", C.c_double), ("lr", C.c_double), ("time", C.c_double), ("seconds", C.c_double),
                ("final", C.c_int),
                ("product_sv", C.POINTER(C.c_double)), ("n_product_sv", C.c_int),
                ("effective_rank", C.c_double), ("nuclear_norm", C.c_double), ("test_error", C.c_double),
                ("mode_strength", C.POINTER(C.c_double)),
                ("target_sv", C.POINTER(C.c_double)), ("n_modes", C.c_int),
                ("layer_norms", C.POINTER(C.c_double)), ("n_layers", C.c_int),
                ("balancedness", C.c_double), ("sharpness", C.c_double), ("sharpness_est", C.c_double),
                ("flow_distance", C.c_double), ("flow_weight_norm", C.c_double),
                ("sharpness_top", C.POINTER(C.c_double)), ("n_sharpness_top", C.c_int)]


OBSERVER = C.CFUNCTYPE(C.c_int, C.c_void_p, C.POINTER(Observation))  # dln_observer_fn (in dln_train_opts)


class TrainOpts(C.Structure):  # dln_train_opts
    _fields_ = [("lr", C.c_double), ("lr_rule", C.c_int), ("reestimate_every", C.c_int),
                ("momentum", C.c_double), ("line_search", C.c_int), ("steps", C.c_long), ("tol", C.c_double),
                ("grad_tol", C.c_double), ("loss_tol", C.c_double),
                ("check_every", C.c_int), ("observe_every", C.c_int), ("observer", OBSERVER),
                ("observer_ctx", C.c_void_p), ("observe", C.c_uint), ("sharpness_every", C.c_int),
                ("sharpness_iters", C.c_int), ("data_mode", C.c_int), ("dtype", C.c_int), ("flow", C.c_double),
                ("flow_rtol", C.c_double), ("sharpness_rtol", C.c_double), ("sharpness_k", C.c_int)]


EXPERIMENT_OBSERVER = C.CFUNCTYPE(C.c_int, C.c_void_p, C.c_long, C.POINTER(Observation))  # dln_experiment_observer_fn

P = C.POINTER
DP = P(C.c_double)
DPP = P(DP)


class ExperimentOpts(C.Structure):  # dln_experiment_opts
    _fields_ = [("command", C.c_int), ("x_path", C.c_char_p), ("y_path", C.c_char_p), ("X", DP), ("Y", DP),
                ("dx", C.c_int), ("dy", C.c_int), ("m", C.c_int), ("synth", SynthOpts), ("loss", C.c_char_p),
                ("loss_params", ObjectiveParams), ("depth", C.c_int),
                ("width", C.c_int), ("widths", P(C.c_int)), ("load_dir", C.c_char_p), ("weights", DPP),
                ("init", C.c_int), ("init_scale", C.c_double), ("seed", C.c_uint64), ("inits", P(C.c_int)),
                ("n_inits", C.c_int), ("scales", DP), ("n_scales", C.c_int), ("lrs", DP), ("lr_rules", P(C.c_int)),
                ("n_lrs", C.c_int), ("moms", DP), ("n_moms", C.c_int), ("seeds", P(C.c_uint64)),
                ("n_seeds", C.c_int), ("train", TrainOpts), ("batch_size", C.c_int), ("threads", C.c_int),
                ("rank", C.c_int), ("rank_from_shape", C.c_int), ("rank_tol", C.c_double), ("route", C.c_int),
                ("backend", C.c_int), ("math", C.c_int), ("hessian", C.c_int), ("hessian_iters", C.c_int),
                ("observe", C.c_int), ("perturb_set", C.c_int), ("perturb", C.c_double),
                ("perturb_dir", C.c_char_p), ("save_dir", C.c_char_p), ("direction_dir", C.c_char_p),
                ("solution_dir", C.c_char_p), ("data_dir", C.c_char_p), ("keep_weights", C.c_int),
                ("observer", EXPERIMENT_OBSERVER), ("observer_ctx", C.c_void_p), ("observe_every", C.c_int),
                ("shallow_restarts", C.c_int), ("certify", C.c_int),
                ("matrix", C.c_int), ("rows", C.c_int), ("cols", C.c_int), ("entries_path", C.c_char_p),
                ("sensing_path", C.c_char_p), ("b_path", C.c_char_p), ("test_path", C.c_char_p), ("entries", DP),
                ("n_entries", C.c_int), ("sensing_A", DP), ("sensing_b", DP), ("n_measurements", C.c_int),
                ("test_entries", DP), ("n_test", C.c_int), ("matrix_synth", MatrixSynthOpts), ("nuclear", C.c_int),
                ("compare_flow", C.c_int)]


# the structs and the C names the layout test compares them with
STRUCTS = {"dln_error": Error, "dln_data": Data, "dln_synth_opts": SynthOpts, "dln_objective_params": ObjectiveParams,
           "dln_matrix_synth_opts": MatrixSynthOpts, "dln_flow_stats": FlowStats,
           "dln_shape": Shape,
           "dln_observation": Observation, "dln_train_opts": TrainOpts, "dln_experiment_opts": ExperimentOpts}

# enum values (include/dln/*.h)
OK, EINPUT, ERUNTIME, ENOMEM = 0, 2, 3, 4
BACKENDS = {"auto": 0, "cpu": 1, "cuda": 2}
MATH_DEFAULT, MATH_TF32 = 0, 1
CAP_TF32 = 2
F64, F32 = 0, 1
LR_SHARPNESS, LR_ARORA = 0, 1
DATA_MODES = {"auto": 0, "full": 1, "compressed": 2}
ROUTES = {0: "auto", 1: "svd", 2: "qr"}
TRAIN_NOTE_MAX = 512  # DLN_TRAIN_NOTE_MAX: dln_train_describe's note with its NUL

COMMANDS = {"train": 0, "solve": 1, "hessian": 2}
MATRIX_COMPLETION, MATRIX_SENSING = 1, 2  # dln_matrix_kind
SUMMARY_SPECTRA, SUMMARY_MEMBER, SUMMARY_LITERALS = 1, 2, 4
PARTS = {1: "backend", 2: "precision", 3: "load", 4: "save", 5: "save_direction", 6: "save_solution",
         7: "save_data", 8: "perturb_dir", 9: "hessian_iters", 10: "loss", 11: "Y"}  # dln_experiment_part

_PROTOTYPES = {  # name: (restype, argtypes)
    "dln_error_clear": (None, [P(Error)]),
    "dln_backend_create": (C.c_int, [C.c_int, P(Error), P(C.c_void_p), P(C.c_char_p)]),
    "dln_backend_destroy": (None, [C.c_void_p]),
    "dln_backend_name": (C.c_char_p, [C.c_void_p]),
    "dln_backend_supports": (C.c_int, [C.c_void_p, C.c_uint]),
    "dln_backend_set_math": (C.c_int, [C.c_void_p, C.c_int]),
    "dln_backends_compiled": (C.c_char_p, []),
    "dln_backend_available": (C.c_int, [C.c_int]),
    "dln_devices_describe": (None, [C.c_char_p, C.c_size_t]),
    "dln_synth_make": (C.c_int, [P(SynthOpts), P(Data), P(Error)]),
    "dln_data_validate": (C.c_int, [P(Data), P(Error)]),
    "dln_data_free": (None, [P(Data)]),
    "dln_solver_route_parse": (C.c_int, [C.c_char_p, P(C.c_int)]),
    "dln_shape_make": (C.c_int, [C.c_int, C.c_int, C.c_int, P(C.c_int), C.c_int, P(Shape), P(Error)]),
    "dln_shape_free": (None, [P(Shape)]),
    "dln_init_parse": (C.c_int, [C.c_char_p, P(C.c_int)]),
    "dln_weights_alloc": (C.c_int, [P(Shape), P(DPP), P(Error)]),
    "dln_weights_free": (None, [C.c_int, DPP]),
    "dln_weights_save": (C.c_int, [C.c_char_p, P(Shape), DPP, P(Error)]),
    "dln_weights_load": (C.c_int, [C.c_char_p, C.c_int, C.c_int, P(Shape), P(DPP), P(Error)]),
    "dln_train_opts_default": (None, [P(TrainOpts)]),
    "dln_experiment_opts_default": (None, [P(ExperimentOpts)]),
    "dln_experiment_create": (C.c_int, [P(ExperimentOpts), P(Error), P(C.c_void_p)]),
    "dln_experiment_destroy": (None, [C.c_void_p]),
    "dln_experiment_prepare": (C.c_int, [C.c_void_p]),
    "dln_experiment_run": (C.c_int, [C.c_void_p]),
    "dln_experiment_commit": (C.c_int, [C.c_void_p]),
    "dln_experiment_failed_part": (C.c_int, [C.c_void_p]),
    "dln_experiment_members": (C.c_long, [C.c_void_p]),
    "dln_experiment_notes": (C.c_int, [C.c_void_p]),
    "dln_experiment_note": (C.c_char_p, [C.c_void_p, C.c_int]),
    "dln_experiment_summary_text": (C.c_long, [C.c_void_p, C.c_long, C.c_uint, C.c_char_p, C.c_size_t]),
    "dln_experiment_weights": (C.c_int, [C.c_void_p, C.c_long, DPP]),
    "dln_experiment_shape": (P(Shape), [C.c_void_p]),
    "dln_trace_text": (C.c_long, [C.c_long, P(Observation), C.c_uint, C.c_char_p, C.c_size_t]),
    "dln_trace_due": (C.c_int, [P(Observation), C.c_int, C.c_long]),
    "dln_loss_at": (C.c_int, [C.c_void_p, C.c_void_p, P(Shape), DP, DP, C.c_int, DPP, P(C.c_double), DPP, P(Error)]),
    "dln_objective_create": (C.c_int, [C.c_char_p, P(ObjectiveParams), P(C.c_void_p), P(Error)]),
    "dln_objective_destroy": (None, [C.c_void_p]),
    "dln_objective_check_target": (C.c_int, [C.c_void_p, DP, C.c_int, C.c_int, P(Error)]),
    "dln_hvp_at": (C.c_int, [C.c_void_p, C.c_void_p, P(Shape), DP, DP, C.c_int, DPP, DPP, DPP, P(Error)]),
    "dln_flow_at": (C.c_int, [C.c_void_p, C.c_void_p, P(Shape), DP, DP, C.c_int, DPP, C.c_double, C.c_double, C.c_long,
                              P(FlowStats), P(Error)]),
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
