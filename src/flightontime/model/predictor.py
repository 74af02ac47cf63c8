"""LightGBM's single-row fast C API (no pandas, no per-call parameter parsing) through ctypes.

`Booster.predict` on one row costs tens of microseconds of Python (argument checks, array
conversion, a new predictor configuration per call). LightGBM exposes a "fast" single-row path:
the configuration is prepared once (`LGBM_BoosterPredictForMatSingleRowFastInit`) and each call
only copies the row in (`LGBM_BoosterPredictForMatSingleRowFast`).
"""

from __future__ import annotations

import ctypes

import lightgbm as lgb
import numpy as np
from lightgbm.basic import LightGBMError
from scipy.sparse import csr_matrix

# The loaded native library; private in lightgbm, but the only way to its C API.
_LIB = lgb.basic._LIB  # type: ignore[attr-defined]

PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL: probability for a binary objective
_DTYPE_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


def _check(rc: int) -> None:
    if rc != 0:
        raise LightGBMError(_LIB.LGBM_GetLastError().decode("utf-8"))


class FastRowPredictor:
    """One prepared single-row prediction (one booster, one predict type, one thread).

    Not thread-safe: callers share one input row buffer and take a lock around their calls.
    """

    def __init__(
        self, booster: lgb.Booster, n_features: int, predict_type: int, width: int = 1
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
        # The output buffer, made once: read through ctypes for one value (no numpy call, which
        # costs microseconds on a cold request), through `out`, a numpy view, for many.
        self._out_c = (ctypes.c_double * width)()
        self.out = np.frombuffer(memoryview(self._out_c), dtype=np.float64)
        self._out_ptr = ctypes.cast(self._out_c, ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64(0)
        self._out_len_ref = ctypes.byref(self._out_len)
        self._call = _LIB.LGBM_BoosterPredictForMatSingleRowFast

    def run(self, row_ptr: ctypes.c_void_p) -> float:
        """Predict the float64 row at `row_ptr` into `out`; returns its first value."""
        _check(self._call(self._handle, row_ptr, self._out_len_ref, self._out_ptr))
        first: float = self._out_c[0]
        return first

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            _LIB.LGBM_FastConfigFree(handle)
            handle.value = None


PREDICT_LEAF_INDEX = 2  # C_API_PREDICT_LEAF_INDEX: the leaf reached in every tree


class PathExplainer:
    """Per-group contributions by decision path (Saabas / "treeinterpreter" attributions).

    TreeSHAP (`pred_contrib`) costs O(trees x leaves x depth^2) per row, about 0.86 ms for the
    default model (measured, single-row fast path and batch alike); path attributions need only
    the leaf each tree reaches (a prediction's cost) plus one table lookup. For every leaf the
    table holds, per group of features, the sum of the changes in the node's expected output
    along the path from the root, and in its last column the leaf's own output. Bias plus
    contributions equal the raw score exactly, like SHAP values; they differ from SHAP in how
    the credit of interacting features is shared, which does not matter for naming the top
    three factors. The last column summed over the leaves a row reaches, tree by tree in
    LightGBM's order, is the raw score itself, bit for bit.
    """

    def __init__(self, booster: lgb.Booster, n_features: int, groups: np.ndarray) -> None:
        """`groups`: (n_features, n_groups) 0/1 matrix of which feature belongs to which group."""
        trees = booster.dump_model()["tree_info"]
        self.n_trees = len(trees)
        self.n_features = n_features
        self.max_leaves = max((int(t["num_leaves"]) for t in trees), default=1)
        paths = np.zeros((self.n_trees * self.max_leaves, n_features), dtype=np.float64)
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
                    paths[leaf] = path
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
        # Contributions in float32: half the memory a request's gather touches, and a cache
        # miss saved per leaf is worth more on a cold single request than the digits beyond
        # the seventh are to a ranking. Both paths add them up in float64, in the same order.
        # One row per leaf: its contributions per group, then its output. The outputs summed
        # in tree order are LightGBM's raw score, bit for bit; one gather serves both.
        self.table = np.ascontiguousarray(np.hstack([paths @ groups, leaf_value[:, None]]))
        self.offsets = np.arange(self.n_trees, dtype=np.int64) * self.max_leaves
        self._rows = np.empty(self.n_trees, dtype=np.int64)  # table rows of one flight's leaves
        self._fast_leaf = FastRowPredictor(booster, n_features, PREDICT_LEAF_INDEX, self.n_trees)
        self._booster = booster

    def explain(self, x: np.ndarray, num_threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(n, n_groups) contributions per group and the (n,) raw scores of rows `x`."""
        n = x.shape[0]
        leaves = np.asarray(self._booster.predict(x, pred_leaf=True, num_threads=num_threads))
        columns = (leaves.reshape(n, self.n_trees).astype(np.int64) + self.offsets).ravel()
        # A one-hot (n x leaves) matrix times the table: scipy adds each row's leaves in tree
        # order, like LightGBM, at a third of the cost of a numpy gather per tree.
        one_hot = csr_matrix(
            (np.ones(columns.size), columns, np.arange(0, columns.size + 1, self.n_trees)),
            shape=(n, self.table.shape[0]),
        )
        summed = np.asarray(one_hot @ self.table)
        return summed[:, :-1], summed[:, -1]

    def explain_row(self, row_ptr: ctypes.c_void_p) -> tuple[list[float], float]:
        """`explain` for the float64 row at `row_ptr` (one thread; the caller holds a lock)."""
        fast = self._fast_leaf
        fast.run(row_ptr)
        rows = self._rows
        # Three numpy calls: on a cold request each costs more than its arithmetic.
        np.add(self.offsets, fast.out, out=rows, casting="unsafe")
        # Down axis 0, row by row: the tree order of `explain`.
        summed: list[float] = np.add.reduce(self.table.take(rows, axis=0), axis=0).tolist()
        return summed[:-1], summed[-1]
