"""LightGBM from the serving side: its single-row fast C API through ctypes (no pandas, no
per-call parameter parsing), leaf tables for decision-path factors, and the one-flight scorer.

`Booster.predict` on one row costs tens of microseconds of Python (argument checks, array
conversion, a new predictor configuration per call). LightGBM exposes a "fast" single-row path:
the configuration is prepared once (`LGBM_BoosterPredictForMatSingleRowFastInit`) and each call
only copies the row in (`LGBM_BoosterPredictForMatSingleRowFast`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from lightgbm.basic import LightGBMError
from scipy.sparse import csr_matrix

try:  # the kernel behind csr_matrix @ dense: private in scipy, so optional
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - a scipy that moved it: the numpy gather instead
    _csr_matvecs = None

# The loaded native library; private in lightgbm, but the only way to its C API.
_LIB = lgb.basic._LIB  # type: ignore[attr-defined]

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
        # The output buffer, made once, read through `out`, a numpy view.
        self._out_c = (ctypes.c_double * width)()
        self.out = np.frombuffer(memoryview(self._out_c), dtype=np.float64)
        self._out_ptr = ctypes.cast(self._out_c, ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64(0)
        self._out_len_ref = ctypes.byref(self._out_len)
        self._call = _LIB.LGBM_BoosterPredictForMatSingleRowFast

    def run(self, row_ptr: ctypes.c_void_p) -> None:
        """Predict the float64 row at `row_ptr` into `out`."""
        _check(self._call(self._handle, row_ptr, self._out_len_ref, self._out_ptr))

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            _LIB.LGBM_FastConfigFree(handle)
            handle.value = None


PREDICT_LEAF_INDEX = 2  # C_API_PREDICT_LEAF_INDEX: the leaf reached in every tree


@dataclass(frozen=True)
class LeafPaths:
    """Every leaf of one model: its path contributions per feature and its output.

    Decision-path (Saabas / "treeinterpreter") attribution: each split on the way from the
    root to a leaf credits the change in the node's expected output to the split's feature.
    Bias plus contributions equal the raw score exactly, like SHAP values; they differ from
    TreeSHAP (`pred_contrib`, about 0.86 ms per flight for the default model) in how the credit
    of interacting features is shared, which does not matter for naming the top three factors,
    and they cost only the leaf each tree reaches plus a table lookup. Leaf `j` of tree `t` is
    row `t * max_leaves + j`; a leaf's outputs summed in tree order are LightGBM's raw score.
    """

    paths: np.ndarray  # (n_trees * max_leaves, n_features)
    leaf_value: np.ndarray  # (n_trees * max_leaves,)
    n_trees: int
    max_leaves: int

    @classmethod
    def of(cls, booster: lgb.Booster, n_features: int) -> LeafPaths:
        """Walk every tree of `booster` (its JSON dump) once."""
        trees = booster.dump_model()["tree_info"]
        max_leaves = max((int(t["num_leaves"]) for t in trees), default=1)
        paths = np.zeros((len(trees) * max_leaves, n_features), dtype=np.float64)
        leaf_value = np.zeros(len(trees) * max_leaves, dtype=np.float64)
        for t, tree in enumerate(trees):
            root = tree["tree_structure"]
            if "split_feature" not in root:  # a one-leaf tree only moves the bias
                leaf_value[t * max_leaves] = float(root.get("leaf_value", 0.0))
                continue
            stack: list[tuple[dict[str, object], np.ndarray]] = [
                (root, np.zeros(n_features, dtype=np.float64))
            ]
            while stack:
                node, path = stack.pop()
                if "split_feature" not in node:
                    leaf = t * max_leaves + int(node["leaf_index"])  # type: ignore[call-overload]
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
        return cls(paths, leaf_value, len(trees), max_leaves)


class PathExplainer:
    """Batches: the primary model's leaves, then factors and raw score from one sparse product."""

    def __init__(self, booster: lgb.Booster, leaf_paths: LeafPaths, grouped: np.ndarray) -> None:
        """`grouped`: (n_leaf_rows, n_groups) contributions of `leaf_paths` summed per group."""
        self._booster = booster
        self._leaf_paths = leaf_paths
        # One row per leaf: its contributions per group, then its output; one product, both.
        self._table = np.ascontiguousarray(np.hstack([grouped, leaf_paths.leaf_value[:, None]]))
        self._offsets = (np.arange(leaf_paths.n_trees) * leaf_paths.max_leaves).astype(np.int32)

    def explain(self, x: np.ndarray, num_threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(n, n_groups) contributions per group and the (n,) raw scores of rows `x`."""
        n, n_trees = x.shape[0], self._leaf_paths.n_trees
        leaves = self._booster.predict(x, pred_leaf=True, num_threads=num_threads)
        # int32 columns (what LightGBM returns) and indptr: scipy's own index type here.
        columns = np.asarray(leaves).reshape(n, n_trees).astype(np.int32, copy=False)
        columns += self._offsets
        # A one-hot (n x leaves) matrix times the table: scipy adds each row's leaves in tree
        # order, like LightGBM, at a third of the cost of a numpy gather per tree.
        one_hot = csr_matrix(
            (
                np.ones(columns.size),
                columns.ravel(),
                np.arange(0, columns.size + 1, n_trees, dtype=np.int32),
            ),
            shape=(n, self._table.shape[0]),
        )
        summed = np.asarray(one_hot @ self._table)
        return summed[:, :-1], summed[:, -1]


class RowScorer:
    """One flight: every model of the bundle in one LightGBM call, then two sparse row sums.

    The models are merged into one booster (LightGBM's own `LGBM_BoosterMerge`, trees copied in
    order), so a single fast-path call gives the leaf of every tree. Tables with a row per leaf
    hold the primary model's contributions per group and output, and the other models' outputs;
    summed down the reached rows they give the factors and every model's raw score (each added
    in tree order, LightGBM's sum, bit for bit). On a cold request (caches taken by the rest of
    the server since the last one) every call into LightGBM or numpy costs several microseconds
    whatever it computes, and every cache line read counts: few calls, narrow rows.
    """

    def __init__(
        self,
        boosters: Sequence[lgb.Booster],
        leaf_paths: Sequence[LeafPaths],
        grouped: np.ndarray,
        n_features: int,
    ) -> None:
        """`boosters[0]` is the primary model, `grouped` its per-group contributions."""
        merged = lgb.Booster(model_str=boosters[-1].model_to_string())
        for booster in reversed(boosters[:-1]):  # a merge puts the other model's trees first
            _check(_LIB.LGBM_BoosterMerge(merged._handle, booster._handle))
        self._merged = merged
        max_leaves = max(p.max_leaves for p in leaf_paths)
        n_trees = sum(p.n_trees for p in leaf_paths)
        n_groups = grouped.shape[1]
        # Two tables, so that a request reads only what it sums: the primary model's leaves
        # (contributions per group, then the output) and the other models' leaves (an output
        # in its model's column, zeros elsewhere: adding zeros keeps every sum LightGBM's).
        # Leaf j of the merged tree t is row t * max_leaves + j of its model's table.
        first = leaf_paths[0]
        primary = np.zeros((first.n_trees * max_leaves, n_groups + 1), dtype=np.float64)
        local = np.arange(first.n_trees * first.max_leaves)
        rows = local // first.max_leaves * max_leaves + local % first.max_leaves
        primary[rows, :n_groups] = grouped
        primary[rows, n_groups] = first.leaf_value
        others = np.zeros(((n_trees - first.n_trees) * max_leaves, len(boosters) - 1))
        start = 0
        for k, p in enumerate(leaf_paths[1:]):
            local = np.arange(p.n_trees * p.max_leaves)
            rows = (start + local // p.max_leaves) * max_leaves + local % p.max_leaves
            others[rows, k] = p.leaf_value
            start += p.n_trees
        self._n_groups = n_groups
        offsets = (np.arange(n_trees) * max_leaves).astype(np.int32)
        offsets[first.n_trees :] -= first.n_trees * max_leaves
        self._offsets = offsets
        self._rows = np.empty(n_trees, dtype=np.int32)
        self._leaves = FastRowPredictor(merged, n_features, PREDICT_LEAF_INDEX, n_trees)
        # The reached rows as one-row sparse matrices for scipy's own kernel (the batch path's
        # product, called directly): no temporary copy of the rows, added in tree order.
        spans = ((0, first.n_trees), (first.n_trees, n_trees))
        self._parts = tuple(
            (
                table.ravel(),
                table.shape,
                self._rows[lo:hi],
                np.array([0, hi - lo], dtype=np.int32),
                np.ones(hi - lo),
                np.zeros(table.shape[1]),
            )
            for table, (lo, hi) in zip((primary, others), spans, strict=True)
            if hi > lo
        )

    def score(self, row_ptr: ctypes.c_void_p) -> tuple[list[float], list[float]]:
        """Contributions per group and raw score per model for the float64 row at `row_ptr`
        (one thread; the caller holds a lock over the row buffer)."""
        self._leaves.run(row_ptr)
        np.add(self._offsets, self._leaves.out, out=self._rows, casting="unsafe")
        summed: list[float] = []
        for flat, (n_rows, n_cols), rows, indptr, ones, total in self._parts:
            if _csr_matvecs is not None:
                total.fill(0.0)
                _csr_matvecs(1, n_rows, n_cols, indptr, rows, ones, flat, total)
                summed += total.tolist()
            else:
                # Column sums added row by row, in tree order (einsum's loop runs across
                # columns, not down them).
                table = flat.reshape(n_rows, n_cols)
                summed += np.einsum("ij->j", table.take(rows, axis=0)).tolist()
        return summed[: self._n_groups], summed[self._n_groups :]
