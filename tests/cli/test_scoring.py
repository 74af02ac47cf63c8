"""`flightontime predict` and `flightontime score`, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from csv_files import read_csv, write_csv
from flightontime_core import PredictionService
from flightontime_core.contract import ANSWER_FIELDS
from flightontime_core.scoring import output_columns

FLIGHT = ["--companhia", "AA", "--origem", "JFK", "--destino", "LAX"]
WHEN = ["--data-partida", "2013-11-10T14:30:00"]

# Good flights, and one of each kind of bad row, with columns the command does not know.
CSV_ROWS = [
    {"id": "007", "companhia": "AA", "origem": "JFK", "destino": "LAX",
     "data_partida": "2013-11-10T14:30:00", "distancia_m": "", "vento_kmh": "30",
     "nota": 'comma, and "quotes"'},
    {"id": "008", "companhia": "B6", "origem": "JFK", "destino": "ZZ-Z",
     "data_partida": "2013-11-10T08:00:00", "distancia_m": "", "vento_kmh": "",
     "nota": "malformed airport code"},
    {"id": "009", "companhia": "UA", "origem": "EWR", "destino": "ORD",
     "data_partida": "2013-13-45T10:00:00", "distancia_m": "1000000", "vento_kmh": "",
     "nota": "bad date"},
    {"id": "010", "companhia": "", "origem": "LGA", "destino": "ATL",
     "data_partida": "2013-11-11T06:00:00", "distancia_m": "", "vento_kmh": "",
     "nota": "missing airline"},
    {"id": "011", "companhia": "DL", "origem": "LGA", "destino": "ATL",
     "data_partida": "2013-11-11T06:00:00", "distancia_m": "1230000", "vento_kmh": "abc",
     "nota": "wind is no number"},
    {"id": "012", "companhia": "DL", "origem": "LGA", "destino": "ATL",
     "data_partida": "2013-12-24T18:45:00", "distancia_m": "1230000", "vento_kmh": "",
     "nota": ""},
]  # fmt: skip
BAD = {"008": "destino", "009": "data_partida", "010": "companhia", "011": "clima.vento_kmh"}


def thresholds(model_dir: Path) -> tuple[int, ...]:
    return PredictionService.load(model_dir).thresholds


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# -- predict ----------------------------------------------------------------------------------


def test_predict_prints_a_table(run, model_dir: Path) -> None:
    result = run("predict", *FLIGHT, *WHEN, "--model", model_dir)
    assert result.exit_code == 0, result.output
    for label in ("status", "probabilidade", "limiar_decisao", "versao_modelo", "P(delay >="):
        assert label in result.stdout
    assert "AA JFK → LAX" in result.stdout
    assert "On time" in result.stdout or "Delayed" in result.stdout


def test_predict_json_is_the_contract_answer(run, model_dir: Path) -> None:
    args = ["predict", *FLIGHT, *WHEN, "--distancia-m", "3983000", "--model", model_dir]
    result = run(*args, "--json", "--clima", '{"vento_kmh": 30, "temperatura_c": 12}')
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert tuple(body) == ANSWER_FIELDS
    assert body["previsao"] in (0, 1)
    assert 0.0 <= body["probabilidade"] <= 1.0
    assert body["status"] in ("On time", "Delayed")
    assert body["previsao"] == int(body["probabilidade"] >= body["limiar_decisao"])
    assert list(body["probabilidades"]) == [str(t) for t in thresholds(model_dir)]
    pt = json.loads(run(*args, "--json", "--lang", "pt").stdout)
    assert pt["status"] in ("Pontual", "Atrasado")


def test_predict_bad_flight_exits_2_naming_each_field(run, model_dir: Path) -> None:
    result = run(
        "predict", "--companhia", "AA", "--origem", "ZZ-Z", "--destino", "LAX",
        "--data-partida", "2013-11-10", "--model", model_dir,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "origem: airport code must be 3 or 4 letters or digits" in result.stderr
    assert "(invalid_airport_code)" in result.stderr
    assert "data_partida:" in result.stderr
    assert "(departure_needs_time)" in result.stderr
    assert result.stdout == ""


def test_predict_bad_weather_exits_2(run, model_dir: Path) -> None:
    not_json = run("predict", *FLIGHT, *WHEN, "--model", model_dir, "--clima", "{wind")
    assert not_json.exit_code == 2
    assert "--clima" in not_json.stderr
    assert "not JSON" in not_json.stderr
    unknown = run("predict", *FLIGHT, *WHEN, "--model", model_dir, "--clima", '{"neve": 1}')
    assert unknown.exit_code == 2
    assert "clima.neve: unknown field" in unknown.stderr
    bounds = run("predict", *FLIGHT, *WHEN, "--model", model_dir, "--clima", '{"umidade_pct": 120}')
    assert bounds.exit_code == 2
    assert "clima.umidade_pct" in bounds.stderr


def test_predict_without_a_bundle_exits_1(run, tmp_path: Path) -> None:
    result = run("predict", *FLIGHT, *WHEN, "--model", tmp_path / "nothing")
    assert result.exit_code == 1
    assert "cannot load the model bundle" in result.stderr


def test_predict_uses_the_model_dir_setting(run, model_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("FLIGHTONTIME_MODEL_DIR", str(model_dir))
    result = run("predict", *FLIGHT, *WHEN, "--json")
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("FLIGHTONTIME_THREADS", "0")
    assert run("predict", *FLIGHT, *WHEN).exit_code == 2  # a bad setting is a usage error


# -- score ------------------------------------------------------------------------------------


def test_score_csv_keeps_every_row_and_column_in_order(run, model_dir: Path, tmp_path) -> None:
    source = write_csv(tmp_path / "flights.csv", CSV_ROWS)
    target = tmp_path / "out" / "scored.csv"
    result = run("score", source, target, "--model", model_dir, "--chunk-size", "4")
    assert result.exit_code == 0, result.output
    rows = read_csv(target)
    columns = list(rows[0])
    added = list(output_columns(thresholds(model_dir)))
    assert columns == [*CSV_ROWS[0], *added]
    assert [r["id"] for r in rows] == [r["id"] for r in CSV_ROWS]
    for got, given in zip(rows, CSV_ROWS, strict=True):
        assert {k: got[k] for k in given} == given  # text passes through exactly
        if given["id"] in BAD:
            assert got["erro"].startswith(BAD[given["id"]] + ":"), got["erro"]
            assert got["previsao"] == got["probabilidade"] == got["versao_modelo"] == ""
        else:
            assert got["erro"] == ""
            assert got["previsao"] in ("0", "1")
            assert got["status"] in ("On time", "Delayed")
            p = float(got["probabilidade"])
            assert int(p >= float(got["limiar_decisao"])) == int(got["previsao"])
            assert got["versao_modelo"].startswith("m-")
            assert got["fatores"]
    assert "6 rows scored" in result.stderr
    assert "2 predicted, 4 refused" in result.stderr
    assert "row 2: destino: airport code must be 3 or 4" in result.stderr
    for reason in ("invalid_airport_code", "invalid_departure", "required", "wrong_type"):
        assert reason in result.stderr
    assert leftovers(target.parent) == []


def test_score_answers_as_predict(run, model_dir: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "flights.csv", CSV_ROWS[:1])
    target = tmp_path / "scored.csv"
    assert run("score", source, target, "--model", model_dir, "--lang", "pt").exit_code == 0
    row = read_csv(target)[0]
    one = run("predict", *FLIGHT, *WHEN, "--clima", '{"vento_kmh": 30}', "--model", model_dir,
              "--json", "--lang", "pt")  # fmt: skip
    body = json.loads(one.stdout)
    assert float(row["probabilidade"]) == body["probabilidade"]
    assert row["status"] == body["status"]
    assert row["fatores"] == " | ".join(body["fatores"])
    assert row["avisos"] == " | ".join(body["avisos"])
    for t, p in body["probabilidades"].items():
        assert float(row[f"probabilidade_{t}min"]) == p


def test_score_parquet_keeps_types(run, model_dir: Path, tmp_path: Path) -> None:
    n = 7
    table = pa.table(
        {
            "row": pa.array(range(n), type=pa.int32()),
            "companhia": ["AA", "DL", "UA", None, "B6", "AA", "AA"],
            "origem": ["JFK", "LGA", "EWR", "JFK", "JFK", "XX-X", "JFK"],
            "destino": ["LAX", "ATL", "ORD", "BOS", "MCO", "LAX", "MIA"],
            # Parquet holds real timestamps; the core reads them as datetimes.
            "data_partida": pa.array(
                [f"2013-11-{10 + i:02d}T{6 + i:02d}:15:00" for i in range(n)]
            ).cast(pa.timestamp("s")),
            "temperatura_c": [12.5, None, 3.0, None, None, None, float("nan")],
            "peso": pa.array([1.5, 2.5, None, 4.5, 5.5, 6.5, 7.5], type=pa.float32()),
        }
    )
    source = tmp_path / "flights.parquet"
    pq.write_table(table, source)
    target = tmp_path / "scored.parquet"
    result = run("score", source, target, "--model", model_dir, "--chunk-size", "3")
    assert result.exit_code == 0, result.output
    scored = pq.read_table(target)
    assert scored.schema.names == [*table.schema.names, *output_columns(thresholds(model_dir))]
    given = pq.read_table(source)  # as Parquet stores it (seconds become milliseconds)
    passed = scored.select(table.schema.names)
    assert passed.schema == given.schema
    assert repr(passed.to_pylist()) == repr(given.to_pylist())  # repr: NaN equals NaN
    erro = scored.column("erro").to_pylist()
    assert erro[3].startswith("companhia:")
    assert erro[5].startswith("origem: airport code must be")
    assert [e == "" for e in erro] == [True, True, True, False, True, False, True]
    previsao = scored.column("previsao").to_pylist()
    assert previsao[3] is None
    assert previsao[0] in (0, 1)
    assert scored.schema.field("probabilidade").type == pa.float64()
    assert "5 predicted, 2 refused" in result.stderr


def test_score_between_formats_and_chunk_sizes(run, model_dir: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "flights.csv", CSV_ROWS * 5)
    one = tmp_path / "one.parquet"
    many = tmp_path / "many.csv"
    assert run("score", source, one, "--model", model_dir).exit_code == 0
    assert run("score", source, many, "--model", model_dir, "--chunk-size", "1").exit_code == 0
    parquet_rows = pq.read_table(one).to_pylist()
    csv_rows = read_csv(many)
    assert len(parquet_rows) == len(csv_rows) == 30
    for a, b in zip(parquet_rows, csv_rows, strict=True):
        assert a["id"] == b["id"]
        assert a["erro"] == b["erro"]
        assert (a["probabilidade"] is None) == (b["probabilidade"] == "")
        if a["probabilidade"] is not None:
            assert a["probabilidade"] == float(b["probabilidade"])
    back = tmp_path / "back.csv"
    result = run("score", one, back, "--model", model_dir)  # scored output has output columns
    assert result.exit_code == 1
    assert "already has output column(s) previsao" in result.stderr
    assert not back.exists()


def test_score_missing_column_exits_1_without_output(run, model_dir: Path, tmp_path) -> None:
    rows = [{k: v for k, v in r.items() if k != "destino"} for r in CSV_ROWS]
    source = write_csv(tmp_path / "flights.csv", rows)
    target = tmp_path / "out" / "scored.csv"
    result = run("score", source, target, "--model", model_dir)
    assert result.exit_code == 1
    assert "missing required column(s): destino" in result.stderr
    assert not target.exists()
    assert not target.parent.exists() or leftovers(target.parent) == []


def test_score_corrupt_input_exits_1_without_output(run, model_dir: Path, tmp_path) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"companhia": ["AA"] * 100}), good)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    target = tmp_path / "scored.parquet"
    result = run("score", corrupt, target, "--model", model_dir)
    assert result.exit_code == 1
    assert "corrupt.parquet" in result.stderr
    assert not target.exists()
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        b"companhia,origem,destino,data_partida,nota\n"
        + "AA,JFK,LAX,2013-11-10T14:30:00,São Paulo\n".encode("latin-1") * 3
    )
    result = run("score", latin, tmp_path / "scored.csv", "--model", model_dir)
    assert result.exit_code == 1
    assert "latin.csv" in result.stderr
    assert not (tmp_path / "scored.csv").exists()
    assert leftovers(tmp_path) == []


def test_score_bad_model_or_arguments(run, model_dir: Path, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "flights.csv", CSV_ROWS)
    target = tmp_path / "scored.csv"
    no_model = run("score", source, target, "--model", tmp_path / "nothing")
    assert no_model.exit_code == 1
    assert "cannot load the model bundle" in no_model.stderr
    assert not target.exists()
    assert run("score", source, tmp_path / "scored.xlsx", "--model", model_dir).exit_code == 2
    assert run("score", tmp_path / "missing.csv", target, "--model", model_dir).exit_code == 2
    assert run("score", source, target, "--chunk-size", "0", "--model", model_dir).exit_code == 2


@pytest.mark.parametrize("name", ["flights.csv", "flights.parquet"])
def test_score_an_empty_table(run, model_dir: Path, tmp_path: Path, name: str) -> None:
    header = {"companhia": [], "origem": [], "destino": [], "data_partida": []}
    source = tmp_path / name
    if name.endswith(".csv"):
        source.write_text(",".join(header) + "\n")
    else:
        pq.write_table(pa.table(header, schema=pa.schema([(k, pa.string()) for k in header])),
                       source)  # fmt: skip
    target = tmp_path / ("scored" + source.suffix)
    result = run("score", source, target, "--model", model_dir)
    assert result.exit_code == 0, result.output
    assert "0 rows scored" in result.stderr
    assert target.exists()


def test_score_reads_distancia_km_and_flags_impossible_distances(
    run, model_dir: Path, tmp_path: Path
) -> None:
    flight = {"companhia": "AA", "origem": "JFK", "destino": "LAX",
              "data_partida": "2013-11-10T14:30:00"}  # fmt: skip
    rows = [
        {**flight, "distancia_m": "", "distancia_km": ""},
        {**flight, "distancia_m": "", "distancia_km": "3974.2"},
        {**flight, "distancia_m": "3974", "distancia_km": ""},  # km sent as metres
        {**flight, "distancia_m": "3974200", "distancia_km": "3000"},
        {**flight, "origem": "ZZZZ", "distancia_m": "", "distancia_km": "3974.2"},
    ]
    source = write_csv(tmp_path / "flights.csv", rows)
    target = tmp_path / "scored.csv"
    result = run("score", source, target, "--model", model_dir)
    assert result.exit_code == 0, result.output
    got = read_csv(target)
    plain, in_km, wrong, disagree, unlisted = got
    assert in_km["probabilidade"] == plain["probabilidade"]
    assert wrong["probabilidade"] == plain["probabilidade"]  # the great circle was used
    assert "probably given in km" in wrong["avisos"]
    assert disagree["erro"].startswith("distancia_m: the distances in metres and in km disagree")
    assert "distancia_km: the distances" in disagree["erro"]
    assert "ZZZZ is in no reference table" in unlisted["avisos"]
    assert unlisted["erro"] == ""


def test_predict_takes_distancia_km(run, model_dir: Path) -> None:
    base = ["predict", *FLIGHT, *WHEN, "--model", model_dir, "--json"]
    in_km = json.loads(run(*base, "--distancia-km", "3974.2").stdout)
    in_m = json.loads(run(*base, "--distancia-m", "3974200").stdout)
    assert in_km == in_m
    both = run(*base, "--distancia-m", "3974200", "--distancia-km", "3000")
    assert both.exit_code == 2
    assert "distancia_m: the distances in metres and in km disagree" in both.stderr
    assert "distancia_km:" in both.stderr
