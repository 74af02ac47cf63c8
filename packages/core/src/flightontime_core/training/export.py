"""Export the fitted models as one ONNX graph: every model's classifier, converted by skl2onnx,
side by side on one float32 input, plus the primary model's contribution ensemble.

Three things make a converted model silently wrong, and this module guards each:
- skl2onnx ignores HistGradientBoosting's categorical splits: models are fitted on numeric
  codes only, and the graph is refused if any tree node is not BRANCH_LEQ or LEAF;
- onnxruntime's tree ensembles load only float32 input, and store float32 thresholds:
  scikit-learn compares the float32 value with a float64 threshold, so each threshold is
  replaced by the largest float32 that keeps every comparison's answer (a threshold rounded
  to the nearest float32 can land just above a value scikit-learn sends the other way);
- calibration is not converted (the bundle stores it; the core applies it in numpy).
`check_parity` compares scikit-learn and onnxruntime on real rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from flightontime_core.bundle import ExplanationSpec
from flightontime_core.explain import GROUP_NAMES, GROUP_OF_FEATURE
from flightontime_core.features import N_FEATURES

INPUT = "features"
OUTPUT = "scores"
ALLOWED_MODES = frozenset({"BRANCH_LEQ", "LEAF"})
ML_OPSET = 3
OPSET = 17
_TREE_ATTRIBUTES = (
    "nodes_falsenodeids",
    "nodes_featureids",
    "nodes_missing_value_tracks_true",
    "nodes_modes",
    "nodes_nodeids",
    "nodes_treeids",
    "nodes_truenodeids",
    "nodes_values",
)


class ExportError(RuntimeError):
    """The graph would not answer what scikit-learn answers."""


def _classifier_attributes(model: Any) -> dict[str, Any]:
    """skl2onnx's TreeEnsembleClassifier attributes for a fitted HistGradientBoosting model,
    thresholds made exact for float32 input."""
    import onnx
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    converted = to_onnx(
        model,
        initial_types=[(INPUT, FloatTensorType([None, N_FEATURES]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
    )
    nodes = [n for n in converted.graph.node if n.op_type == "TreeEnsembleClassifier"]
    if len(nodes) != 1 or len(converted.graph.node) != 1:
        kinds = [n.op_type for n in converted.graph.node]
        raise ExportError(f"expected one TreeEnsembleClassifier node, skl2onnx wrote {kinds}")
    node = nodes[0]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if (
        set(attributes.get("class_ids", ())) != {0}
        or attributes.get("post_transform") != b"LOGISTIC"
    ):
        raise ExportError("expected a binary classifier scored by one logistic log-odds")
    modes = {m.decode() if isinstance(m, bytes) else m for m in attributes["nodes_modes"]}
    if not modes <= ALLOWED_MODES:
        raise ExportError(
            f"the converted trees use node modes {sorted(modes)}: only {sorted(ALLOWED_MODES)} "
            "convert faithfully (categorical splits are silently dropped)"
        )
    attributes["nodes_values"] = _float32_thresholds(model, attributes)
    return attributes


def _float32_thresholds(model: Any, attributes: Mapping[str, Any]) -> list[float]:
    """Thresholds w with (float32 x <= w) exactly when scikit-learn's x <= float64 threshold."""
    values = np.asarray(attributes["nodes_values"], dtype=np.float32)
    tree = np.asarray(attributes["nodes_treeids"])
    node = np.asarray(attributes["nodes_nodeids"])
    for t, predictors in enumerate(model._predictors):
        nodes = predictors[0].nodes
        split = ~nodes["is_leaf"].astype(bool)
        exact = nodes["num_threshold"][split].astype(np.float64)
        nearest = exact.astype(np.float32)
        below = np.where(nearest > exact, np.nextafter(nearest, np.float32(-np.inf)), nearest)
        at = np.flatnonzero(tree == t)[np.flatnonzero(split)]
        if not np.array_equal(node[at], np.flatnonzero(split)):
            raise ExportError(f"tree {t}: converted nodes do not line up with scikit-learn's")
        values[at] = below
    return [float(v) for v in values]


def _contribution_targets(
    model: Any, attributes: Mapping[str, Any]
) -> tuple[list[int], list[int], list[int], list[float], float]:
    """Leaf targets of the contribution ensemble: per leaf, its path's change per group.

    Each split moves the value from the parent's to the child's; the change is credited to the
    split feature's group, so the contributions of a path sum to leaf - root, and over all
    trees with the bias (baseline + every root) to the classifier's log-odds. Internal values
    are stored unshrunk by scikit-learn; leaves are shrunk by the learning rate.
    """
    n_groups = len(GROUP_NAMES)
    rate = float(model.learning_rate)
    tree_ids: list[int] = []
    node_ids: list[int] = []
    target_ids: list[int] = []
    weights: list[float] = []
    bias = float(np.asarray(model._baseline_prediction).ravel()[0])
    onnx_tree = np.asarray(attributes["nodes_treeids"])
    onnx_node = np.asarray(attributes["nodes_nodeids"])
    onnx_feature = np.asarray(attributes["nodes_featureids"])
    for t, predictors in enumerate(model._predictors):
        nodes = predictors[0].nodes
        in_tree = onnx_tree == t
        # The contribution ensemble reuses skl2onnx's node arrays: they must be this tree's.
        if not np.array_equal(onnx_node[in_tree], np.arange(nodes.shape[0])) or not np.array_equal(
            onnx_feature[in_tree][~nodes["is_leaf"].astype(bool)],
            nodes["feature_idx"][~nodes["is_leaf"].astype(bool)],
        ):
            raise ExportError(f"tree {t}: converted nodes do not line up with scikit-learn's")
        value = np.where(nodes["is_leaf"], nodes["value"], nodes["value"] * rate)
        bias += float(value[0])
        stack = [(0, np.zeros(n_groups))]
        while stack:
            i, path = stack.pop()
            if nodes["is_leaf"][i]:
                for g in np.flatnonzero(path).tolist():
                    tree_ids.append(t)
                    node_ids.append(i)
                    target_ids.append(g)
                    weights.append(float(path[g]))
                continue
            group = GROUP_OF_FEATURE[int(nodes["feature_idx"][i])]
            for child in (int(nodes["left"][i]), int(nodes["right"][i])):
                step = path.copy()
                step[group] += value[child] - value[i]
                stack.append((child, step))
    return tree_ids, node_ids, target_ids, weights, bias


def export_graph(models: Mapping[str, Any], explained: str) -> tuple[bytes, ExplanationSpec]:
    """One ONNX graph: a single tree-ensemble node holding every model's trees, whose output
    `scores` (n, len(models) + groups) has each model's log-odds in model order, then the
    contributions of `models[explained]` per factor group; returns its bytes and the
    explanation spec (its first column, groups and bias).

    One node instead of one per model: each onnxruntime node costs a fixed time per call, and
    the primary model's trees serve its log-odds and its contributions in one walk."""
    import onnx
    from onnx import TensorProto, helper

    merged: dict[str, Any] = {name: [] for name in _TREE_ATTRIBUTES}
    targets: dict[str, Any] = {
        "target_treeids": [],
        "target_nodeids": [],
        "target_ids": [],
        "target_weights": [],
    }
    base_values: list[float] = []
    explanation: ExplanationSpec | None = None
    first_group = len(models)
    offset = 0
    for column, (key, model) in enumerate(models.items()):
        attributes = _classifier_attributes(model)
        trees = [t + offset for t in attributes["nodes_treeids"]]
        for name in _TREE_ATTRIBUTES:
            merged[name].extend(trees if name == "nodes_treeids" else attributes[name])
        # skl2onnx writes a binary classifier as one score per leaf (class 0's slot) plus a
        # base value, turned into P(class 1) by the logistic: that score is the log-odds.
        targets["target_treeids"].extend(t + offset for t in attributes["class_treeids"])
        targets["target_nodeids"].extend(attributes["class_nodeids"])
        targets["target_ids"].extend([column] * len(attributes["class_ids"]))
        targets["target_weights"].extend(attributes["class_weights"])
        base_values.append(float(attributes["base_values"][0]))
        if key == explained:
            tree_ids, leaves, groups, weights, bias = _contribution_targets(model, attributes)
            targets["target_treeids"].extend(t + offset for t in tree_ids)
            targets["target_nodeids"].extend(leaves)
            targets["target_ids"].extend(first_group + g for g in groups)
            targets["target_weights"].extend(weights)
            explanation = ExplanationSpec(first_column=first_group, groups=GROUP_NAMES, bias=bias)
        offset = max(trees) + 1
    if explanation is None:
        raise ExportError(f"the explained model {explained!r} is not among the models")
    n_targets = first_group + len(GROUP_NAMES)
    node = helper.make_node(
        "TreeEnsembleRegressor",
        [INPUT],
        [OUTPUT],
        name="trees",
        domain="ai.onnx.ml",
        n_targets=n_targets,
        aggregate_function="SUM",
        post_transform="NONE",
        base_values=base_values + [0.0] * len(GROUP_NAMES),
        **merged,
        **targets,
    )
    graph = helper.make_graph(
        [node],
        "flightontime",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [None, N_FEATURES])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, n_targets])],
    )
    model_proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="flightontime",
    )
    model_proto.ir_version = 8
    onnx.checker.check_model(model_proto)
    return model_proto.SerializeToString(), explanation


def probabilities_of(scores: np.ndarray, n_models: int) -> np.ndarray:
    """P(class 1) of each model from the graph's log-odds columns (float64)."""
    return np.asarray(1.0 / (1.0 + np.exp(-scores[:, :n_models].astype(np.float64))))


def check_parity(
    graph: bytes, models: Mapping[str, Any], x: np.ndarray, tolerance: float = 1e-5
) -> dict[str, float]:
    """Max |scikit-learn - onnxruntime| per model on rows `x`; raises ExportError above
    `tolerance`."""
    import onnxruntime as ort

    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    scores = session.run([OUTPUT], {INPUT: np.ascontiguousarray(x, dtype=np.float32)})[0]
    got = probabilities_of(scores, len(models))
    gaps: dict[str, float] = {}
    for k, (key, model) in enumerate(models.items()):
        expected = model.predict_proba(x.astype(np.float64))[:, 1]
        gaps[key] = float(np.max(np.abs(expected - got[:, k]))) if len(x) else 0.0
    bad = {k: v for k, v in gaps.items() if not v <= tolerance}
    if bad:
        raise ExportError(f"onnxruntime differs from scikit-learn by more than {tolerance}: {bad}")
    return gaps
