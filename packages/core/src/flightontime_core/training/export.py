"""Export the fitted models as one ONNX graph: every model's classifier, converted by skl2onnx,
side by side on one float32 input, plus the primary model's contribution ensemble.

Three things make a converted model silently wrong, and this module guards each:
- skl2onnx converts HistGradientBoosting's categorical splits without a word but writes them
  as numeric BRANCH_LEQ nodes (their node mode cannot tell them apart): a model with any
  categorical feature is refused before conversion, and the finished graph is probed against
  scikit-learn on rows built from every model's bin thresholds (`probe_parity`), so a split
  that converts wrongly for whatever reason refuses the export;
- onnxruntime's tree ensembles load only float32 input, and store float32 thresholds:
  scikit-learn compares the float32 value with a float64 threshold, so each threshold is
  replaced by the largest float32 that keeps every comparison's answer (a threshold rounded
  to the nearest float32 can land just above a value scikit-learn sends the other way);
- calibration is not converted (the bundle stores it; the core applies it in numpy).
`check_parity` compares scikit-learn and onnxruntime on given rows (training: the test rows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from flightontime_core.bundle import ExplanationSpec
from flightontime_core.explain import GROUP_NAMES, GROUP_OF_FEATURE
from flightontime_core.features import N_FEATURES
from flightontime_core.training.fit import Fitted

INPUT = "features"
OUTPUT = "scores"
PROBE_ROWS = 2048
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


def _classifier_attributes(fitted: Fitted) -> dict[str, Any]:
    """skl2onnx's TreeEnsembleClassifier attributes for a fitted HistGradientBoosting model,
    thresholds made exact for float32 input, features mapped onto the full matrix."""
    model = fitted.model
    categorical = getattr(model, "is_categorical_", None)
    if categorical is not None and np.any(categorical):
        raise ExportError(
            "the model has categorical features: skl2onnx drops categorical splits silently "
            "(fit on numeric codes instead)"
        )
    import onnx
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    converted = to_onnx(
        model,
        initial_types=[(INPUT, FloatTensorType([None, len(fitted.features)]))],
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
    attributes["nodes_values"] = _float32_thresholds(model, attributes)
    # Checked against scikit-learn's nodes in local indices, then mapped onto the full matrix.
    _check_alignment(model, attributes)
    attributes["nodes_featureids"] = [fitted.features[i] for i in attributes["nodes_featureids"]]
    return attributes


def _check_alignment(model: Any, attributes: Mapping[str, Any]) -> None:
    """The converted nodes must be scikit-learn's, tree by tree, in the same order."""
    onnx_tree = np.asarray(attributes["nodes_treeids"])
    onnx_node = np.asarray(attributes["nodes_nodeids"])
    onnx_feature = np.asarray(attributes["nodes_featureids"])
    for t, predictors in enumerate(model._predictors):
        nodes = predictors[0].nodes
        split = ~nodes["is_leaf"].astype(bool)
        in_tree = onnx_tree == t
        if not np.array_equal(onnx_node[in_tree], np.arange(nodes.shape[0])) or not np.array_equal(
            onnx_feature[in_tree][split], nodes["feature_idx"][split]
        ):
            raise ExportError(f"tree {t}: converted nodes do not line up with scikit-learn's")


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
    fitted: Fitted,
) -> tuple[list[int], list[int], list[int], list[float], float]:
    """Leaf targets of the contributions: per leaf, its path's change of value per group.

    Each split moves the value from the parent's to the child's; the change is credited to the
    split feature's group, so the contributions of a path sum to leaf - root, and over all
    trees with the bias (baseline + every root) to the classifier's log-odds. scikit-learn
    stores internal values unshrunk and leaves shrunk by the learning rate; the decision path
    needs the node values, which only its fitted predictors hold (skl2onnx reads them too).
    """
    model = fitted.model
    n_groups = len(GROUP_NAMES)
    rate = float(model.learning_rate)
    tree_ids: list[int] = []
    node_ids: list[int] = []
    target_ids: list[int] = []
    weights: list[float] = []
    bias = float(np.asarray(model._baseline_prediction).ravel()[0])
    group_of = [GROUP_OF_FEATURE[f] for f in fitted.features]
    for t, predictors in enumerate(model._predictors):
        nodes = predictors[0].nodes
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
            group = group_of[int(nodes["feature_idx"][i])]
            for child in (int(nodes["left"][i]), int(nodes["right"][i])):
                step = path.copy()
                step[group] += value[child] - value[i]
                stack.append((child, step))
    return tree_ids, node_ids, target_ids, weights, bias


Members = Mapping[str, Sequence[Fitted]]  # model key -> its fitted members (averaged)


class VariantLayout(NamedTuple):
    """Where a variant's models and contributions sit in its graph output."""

    graph_input: str
    graph_output: str
    columns: dict[str, tuple[int, ...]]  # model key -> its members' log-odds columns
    explanation: ExplanationSpec


def _variant_node(
    name: str,
    members: Members,
    explained: str,
    convert: Callable[[Fitted], dict[str, Any]],
) -> tuple[Any, VariantLayout]:
    """One tree-ensemble node with every member's trees of a variant: output columns are each
    member's log-odds, in key order, then the explained model's contributions per group (its
    members' mean)."""
    from onnx import helper

    merged: dict[str, Any] = {name: [] for name in _TREE_ATTRIBUTES}
    targets: dict[str, Any] = {
        "target_treeids": [],
        "target_nodeids": [],
        "target_ids": [],
        "target_weights": [],
    }
    base_values: list[float] = []
    columns: dict[str, tuple[int, ...]] = {}
    n_columns = sum(len(m) for m in members.values())
    biases: list[float] = []
    offset = 0
    for key, models in members.items():
        columns[key] = tuple(range(len(base_values), len(base_values) + len(models)))
        for model in models:
            column = len(base_values)
            attributes = convert(model)
            trees = [t + offset for t in attributes["nodes_treeids"]]
            for attribute in _TREE_ATTRIBUTES:
                merged[attribute].extend(
                    trees if attribute == "nodes_treeids" else attributes[attribute]
                )
            # skl2onnx writes a binary classifier as one score per leaf (class 0's slot) and
            # a base value, turned into P(class 1) by the logistic: that score is the log-odds.
            targets["target_treeids"].extend(t + offset for t in attributes["class_treeids"])
            targets["target_nodeids"].extend(attributes["class_nodeids"])
            targets["target_ids"].extend([column] * len(attributes["class_ids"]))
            targets["target_weights"].extend(attributes["class_weights"])
            base_values.append(float(attributes["base_values"][0]))
            if key == explained:
                share = 1.0 / len(models)
                tree_ids, leaves, groups, weights, bias = _contribution_targets(model)
                targets["target_treeids"].extend(t + offset for t in tree_ids)
                targets["target_nodeids"].extend(leaves)
                targets["target_ids"].extend(n_columns + g for g in groups)
                targets["target_weights"].extend(w * share for w in weights)
                biases.append(bias)
            offset = max(trees) + 1
    if not biases:
        raise ExportError(f"the explained model {explained!r} is not in variant {name}")
    layout = VariantLayout(
        graph_input=f"{INPUT}_{name}",
        graph_output=f"{OUTPUT}_{name}",
        columns=columns,
        explanation=ExplanationSpec(
            first_column=n_columns, groups=GROUP_NAMES, bias=sum(biases) / len(biases)
        ),
    )
    node = helper.make_node(
        "TreeEnsembleRegressor",
        [layout.graph_input],
        [layout.graph_output],
        name=f"trees_{name}",
        domain="ai.onnx.ml",
        n_targets=n_columns + len(GROUP_NAMES),
        aggregate_function="SUM",
        post_transform="NONE",
        base_values=base_values + [0.0] * len(GROUP_NAMES),
        **merged,
        **targets,
    )
    return node, layout


def export_graph(
    variants: Mapping[str, Members], explained: str
) -> tuple[bytes, dict[str, VariantLayout]]:
    """One ONNX graph: per variant one input, one tree-ensemble node holding every member's
    trees, and one output (each member's log-odds, then the contributions of
    `variants[v][explained]` per factor group). Returns its bytes and each variant's layout.

    One node per variant: each onnxruntime node costs a fixed time per call, and a model's
    trees serve its log-odds and its contributions in one walk. A request walks only its own
    variant's trees (the other input gets no rows)."""
    import onnx
    from onnx import TensorProto, helper

    converted: dict[int, dict[str, Any]] = {}

    def convert(fitted: Fitted) -> dict[str, Any]:
        # A model shared by both variants is converted once.
        if id(fitted) not in converted:
            converted[id(fitted)] = _classifier_attributes(fitted)
        return converted[id(fitted)]

    nodes, inputs, outputs, layouts = [], [], [], {}
    for name, members in variants.items():
        node, layout = _variant_node(name, members, explained, convert)
        width = layout.explanation.first_column + len(GROUP_NAMES)
        nodes.append(node)
        inputs.append(
            helper.make_tensor_value_info(layout.graph_input, TensorProto.FLOAT, [None, N_FEATURES])
        )
        outputs.append(
            helper.make_tensor_value_info(layout.graph_output, TensorProto.FLOAT, [None, width])
        )
        layouts[name] = layout
    graph = helper.make_graph(nodes, "flightontime", inputs, outputs)
    model_proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="flightontime",
    )
    model_proto.ir_version = 8
    onnx.checker.check_model(model_proto)
    graph_bytes = model_proto.SerializeToString()
    probe_parity(graph_bytes, variants, layouts)
    return graph_bytes, layouts


def probabilities_of(scores: np.ndarray, columns: tuple[int, ...]) -> np.ndarray:
    """A model's probability (float64) from its members' log-odds columns: their mean."""
    members = [1.0 / (1.0 + np.exp(-scores[:, c].astype(np.float64))) for c in columns]
    return np.asarray(np.mean(members, axis=0))


def graph_probabilities(
    graph: bytes, layouts: Mapping[str, VariantLayout], rows: Mapping[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """Each variant's model probabilities (float64) on its `rows`, answered by the graph."""
    import onnxruntime as ort

    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    feeds = {
        layout.graph_input: np.ascontiguousarray(rows[name], dtype=np.float32)
        for name, layout in layouts.items()
    }
    outputs = session.run([layout.graph_output for layout in layouts.values()], feeds)
    return {
        name: {key: probabilities_of(out, cols) for key, cols in layout.columns.items()}
        for (name, layout), out in zip(layouts.items(), outputs, strict=True)
    }


def check_parity(
    graph: bytes,
    variants: Mapping[str, Members],
    layouts: Mapping[str, VariantLayout],
    rows: Mapping[str, np.ndarray],
    tolerance: float = 1e-5,
) -> dict[str, float]:
    """Max |scikit-learn - onnxruntime| per variant and model on each variant's `rows`;
    raises ExportError above `tolerance`."""
    got = graph_probabilities(graph, layouts, rows)
    gaps: dict[str, float] = {}
    for name, members in variants.items():
        x = rows[name]
        for key, models in members.items():
            expected = np.mean([m.predict(x) for m in models], axis=0)
            gap = float(np.max(np.abs(expected - got[name][key]))) if len(x) else 0.0
            gaps[f"{name}:{key}"] = gap
    bad = {k: v for k, v in gaps.items() if not v <= tolerance}
    if bad:
        raise ExportError(f"onnxruntime differs from scikit-learn by more than {tolerance}: {bad}")
    return gaps


def probe_rows(models: Sequence[Fitted], n: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """Rows (float32, full matrix) that reach every side of the models' splits: each column a
    model reads takes, at random, one of its bin thresholds' two float32 neighbours (the
    largest float32 at or below it and the next one up) or NaN; a categorical feature's bin
    thresholds are its categories. Other columns are 0."""
    candidates: dict[int, list[np.ndarray]] = {}
    for fitted in models:
        # scikit-learn keeps the values its splits compare against only in its bin mapper.
        thresholds = fitted.model._bin_mapper.bin_thresholds_
        for local, column in enumerate(fitted.features):
            exact = np.asarray(thresholds[local], dtype=np.float64)
            nearest = exact.astype(np.float32)
            below = np.where(nearest > exact, np.nextafter(nearest, np.float32(-np.inf)), nearest)
            above = np.nextafter(below, np.float32(np.inf))
            candidates.setdefault(column, []).extend([below, above])
    rng = np.random.default_rng(seed)
    rows = np.zeros((n, N_FEATURES), dtype=np.float32)
    for column, values in candidates.items():
        pool = np.concatenate([*values, np.array([np.nan], dtype=np.float32)])
        rows[:, column] = rng.choice(pool, size=n)
    return rows


def probe_parity(
    graph: bytes,
    variants: Mapping[str, Members],
    layouts: Mapping[str, VariantLayout],
    tolerance: float = 1e-5,
) -> dict[str, float]:
    """`check_parity` on each variant's `probe_rows`: needs no data, so the export runs it on
    every graph it writes; raises ExportError when the graph disagrees with scikit-learn."""
    rows = {
        name: probe_rows([m for models in members.values() for m in models])
        for name, members in variants.items()
    }
    return check_parity(graph, variants, layouts, rows, tolerance)
