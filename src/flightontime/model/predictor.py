"""LightGBM's single-row fast C API (no pandas, no per-call parameter parsing) through ctypes.

`Booster.predict` on one row costs tens of microseconds of Python (argument checks, array
conversion, a new predictor configuration per call). LightGBM exposes a "fast" single-row path:
the configuration is prepared once (`LGBM_BoosterPredictForMatSingleRowFastInit`) and each call
only copies the row in (`LGBM_BoosterPredictForMatSingleRowFast`).
"""

from __future__ import annotations

import ctypes
import threading

import lightgbm as lgb
import numpy as np
from lightgbm.basic import LightGBMError

# The loaded native library; private in lightgbm, but the only way to its C API.
_LIB = lgb.basic._LIB  # type: ignore[attr-defined]

PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL: probability for a binary objective
PREDICT_CONTRIB = 3  # C_API_PREDICT_CONTRIB: per-feature contributions + bias (raw score)
_DTYPE_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


def _check(rc: int) -> None:
    if rc != 0:
        raise LightGBMError(_LIB.LGBM_GetLastError().decode("utf-8"))


class FastRowPredictor:
    """One prepared single-row prediction (one booster, one predict type, one thread)."""

    def __init__(
        self, booster: lgb.Booster, n_features: int, predict_type: int, width: int | None = None
    ) -> None:
        if booster.num_feature() != n_features:
            raise ValueError(f"model has {booster.num_feature()} features, expected {n_features}")
        self._booster = booster  # keeps the native booster alive as long as the fast config
        self._handle = ctypes.c_void_p()
        _check(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(predict_type),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # all iterations (the saved model holds only the best ones)
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(self._handle),
            )
        )
        if width is None:
            width = n_features + 1 if predict_type == PREDICT_CONTRIB else 1
        # Buffers and pointers made once; the lock makes concurrent callers take turns.
        self._row = np.zeros(n_features, dtype=np.float64)
        self._out = np.zeros(width, dtype=np.float64)
        self._out_len = ctypes.c_int64(0)
        self._row_ptr = self._row.ctypes.data_as(ctypes.c_void_p)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len_ref = ctypes.byref(self._out_len)
        self._call = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        self._lock = threading.Lock()

    def predict(self, row: np.ndarray) -> np.ndarray:
        """Output for one feature row (a copy: length 1, or n_features + 1 for contributions)."""
        with self._lock:
            self._row[:] = row
            _check(self._call(self._handle, self._row_ptr, self._out_len_ref, self._out_ptr))
            return self._out.copy()

    @property
    def out(self) -> np.ndarray:
        """The output buffer `run` writes into (reused: copy what must outlive the next call)."""
        return self._out

    def run(self, row_ptr: ctypes.c_void_p) -> None:
        """Predict the float64 row at `row_ptr` into `out`; no copy, no lock (caller holds one)."""
        _check(self._call(self._handle, row_ptr, self._out_len_ref, self._out_ptr))

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            _LIB.LGBM_FastConfigFree(handle)
            handle.value = None


PREDICT_LEAF_INDEX = 2  # C_API_PREDICT_LEAF_INDEX: the leaf reached in every tree
# Rows per chunk when gathering leaf contributions, so a batch never builds a huge temporary.
_GATHER_ELEMENTS = 2_000_000


class PathExplainer:
    """Per-feature contributions by decision path (Saabas / "treeinterpreter" attributions).

    TreeSHAP (`pred_contrib`) costs O(trees x leaves x depth^2) per row, about 0.86 ms for the
    default model (measured, single-row fast path and batch alike); path attributions need only
    the leaf each tree reaches (a prediction's cost) plus one table lookup: for every leaf the
    table holds, per feature, the sum of the changes
    in the node's expected output along the path from the root. Bias plus contributions equal
    the raw score exactly, like SHAP values; they differ from SHAP in how the credit of
    interacting features is shared, which does not matter for naming the top three factors.
    """

    def __init__(self, booster: lgb.Booster, n_features: int) -> None:
        trees = booster.dump_model()["tree_info"]
        self.n_trees = len(trees)
        self.n_features = n_features
        self.max_leaves = max((int(t["num_leaves"]) for t in trees), default=1)
        table = np.zeros((self.n_trees * self.max_leaves, n_features), dtype=np.float64)
        leaf_value = np.zeros(self.n_trees * self.max_leaves, dtype=np.float64)
        bias = 0.0
        for t, tree in enumerate(trees):
            root = tree["tree_structure"]
            if "split_feature" not in root:  # a one-leaf tree only moves the bias
                bias += float(root.get("leaf_value", 0.0))
                leaf_value[t * self.max_leaves] = float(root.get("leaf_value", 0.0))
                continue
            bias += float(root["internal_value"])
            stack: list[tuple[dict[str, object], np.ndarray]] = [
                (root, np.zeros(n_features, dtype=np.float64))
            ]
            while stack:
                node, path = stack.pop()
                if "split_feature" not in node:
                    leaf = t * self.max_leaves + int(node["leaf_index"])  # type: ignore[call-overload]
                    table[leaf] = path
                    leaf_value[leaf] = float(node["leaf_value"])  # type: ignore[arg-type]
                    continue
                feature = int(node["split_feature"])  # type: ignore[call-overload]
                value = float(node["internal_value"])  # type: ignore[arg-type]
                for side in ("left_child", "right_child"):
                    child = node[side]
                    assert isinstance(child, dict)
                    child_value = float(
                        child["leaf_value"]
                        if "split_feature" not in child
                        else child["internal_value"]
                    )
                    step = path.copy()
                    step[feature] += child_value - value
                    stack.append((child, step))
        self.bias = bias
        self.table = table
        # Every leaf's output: the raw score is their sum over the leaves a row reaches, added
        # tree by tree in LightGBM's order (which gives LightGBM's raw score bit for bit).
        self.leaf_value = leaf_value
        self.offsets = np.arange(self.n_trees, dtype=np.int64) * self.max_leaves
        self._fast_leaf = FastRowPredictor(booster, n_features, PREDICT_LEAF_INDEX, self.n_trees)
        self._booster = booster

    def _from_leaves(self, leaves: np.ndarray) -> np.ndarray:
        flat = leaves.astype(np.int64) + self.offsets[None, :]
        out = np.empty((flat.shape[0], self.n_features + 1), dtype=np.float64)
        step = max(1, _GATHER_ELEMENTS // max(self.n_trees * self.n_features, 1))
        for start in range(0, flat.shape[0], step):
            chunk = flat[start : start + step]
            out[start : start + step, :-1] = self.table[chunk].sum(axis=1)
        out[:, -1] = self.bias
        return out

    @property
    def fast_leaf(self) -> FastRowPredictor:
        """Single-row leaf-index predictor of this booster (one thread)."""
        return self._fast_leaf

    def leaves(self, x: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """(n, n_trees) int64 leaf index reached in every tree."""
        leaves = np.asarray(self._booster.predict(x, pred_leaf=True, num_threads=num_threads))
        return leaves.reshape(x.shape[0], self.n_trees).astype(np.int64)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """(n, n_features + 1) contributions, last column the bias (same layout as LightGBM)."""
        if x.shape[0] == 1:
            leaves = self._fast_leaf.predict(x[0])[None, :]
        else:
            leaves = np.asarray(self._booster.predict(x, pred_leaf=True, num_threads=1))
            leaves = leaves.reshape(x.shape[0], self.n_trees)
        return self._from_leaves(leaves)
