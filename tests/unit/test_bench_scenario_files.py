"""Scenario files: the reference set loads, and each kind of bad file is one UsageError naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench.scenarios import load_scenarios, suite_kinds
from harness.errors import UsageError

GOOD = '''
name = "mine"
kind = "ward"
sql = "SELECT * FROM posts WHERE ward_id = %(ward_id)s LIMIT %(n)s"
[params.ward_id]
sampler = "busy_ward"
[params.n]
value = 5
'''


def _dir(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    folder = tmp_path / "user"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_reference_scenarios_cover_the_issue() -> None:
    scenarios = load_scenarios()
    ward = [s for s in scenarios if s.kind == "ward"]
    vector = [s for s in scenarios if s.kind == "vector"]
    assert len(ward) >= 6 and len(vector) >= 4
    assert {"busy_ward", "quiet_ward", "constituency"} <= {s.selectivity for s in vector}
    for s in vector:
        assert s.k == 10 and s.selectivity and s.truth_settings["enable_indexscan"] == "off"
    iterative = {s.name for s in vector if s.settings.get("hnsw.iterative_scan") == "relaxed_order"}
    assert {"vector_search_date_range", "vector_search_model.model_v1", "vector_search_sentiment.non_negative"} <= \
        iterative
    assert not any(name.startswith("vector_search_ward") for name in iterative)
    assert [s.name for s in load_scenarios(kinds=suite_kinds("ward"))] == [s.name for s in ward]
    assert all(s.kind != "write" for s in load_scenarios(kinds=suite_kinds("all")))


def test_user_directory_adds_a_scenario_using_shared_samplers(tmp_path: Path) -> None:
    (mine,) = [s for s in load_scenarios([_dir(tmp_path, GOOD)]) if s.name == "mine"]
    assert mine.sql_params == ["ward_id", "n"]
    assert mine.params[0].sql and "ward_id" in mine.params[0].sql  # the busy_ward pool query, resolved
    assert mine.params[1].value == 5
    assert mine.target_ms({"ward_p95_ms": 100.0}) == 100.0


def test_variants_expand_with_their_own_selectivity(tmp_path: Path) -> None:
    text = GOOD + '[[variants]]\nselectivity = "quiet"\nparams.ward_id = { sampler = "quiet_ward" }\n' \
                  '[[variants]]\nselectivity = "busy"\ntarget_p95_ms = 20\n'
    found = {s.name: s for s in load_scenarios([_dir(tmp_path, text)])}
    assert found["mine.quiet"].params[0].sql != found["mine.busy"].params[0].sql
    assert found["mine.busy"].target_ms({"ward_p95_ms": 100.0}) == 20.0


@pytest.mark.parametrize(("text", "field"), [
    (GOOD.replace('kind = "ward"', 'kind = "wrd"'), "'kind'"),
    (GOOD.replace('sql = "SELECT', 'sqll = "SELECT'), "'sqll'"),
    (GOOD.replace("%(n)s", "%(limit)s"), "'sql': parameter %(limit)s"),
    (GOOD.replace('"busy_ward"', '"bussy_ward"'), "'params.ward_id.sampler'"),
    (GOOD.replace("value = 5", "value = 5\nperturb = 2"), "'params.n.perturb'"),
    (GOOD.replace("value = 5", 'value = 5\nsql = "SELECT 1"'), "'params.n'"),
    (GOOD.replace("value = 5", 'sql = "SELECT 1, 2"\nprovides = "a"'), "'params.n.provides'"),
    (GOOD + "target_p95_ms = -3\n", "'params.n.target_p95_ms'"),
    (GOOD.replace('name = "mine"', 'name = "mine"\ntarget_p95_ms = "fast"'), "'target_p95_ms'"),
    (GOOD.replace('name = "mine"', 'name = "mine"\nk = 0'), "'k'"),
    (GOOD.replace('name = "mine"', 'name = "mine"\nsettings = 3'), "'settings'"),
    (GOOD.replace('name = "mine"', 'name = "ward_dashboard"'), "'name': 'ward_dashboard' is also defined"),
    (GOOD + "[[variants]]\nparams.n = 3\n", "'variants[0].selectivity'"),
])
def test_bad_scenario_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    folder = _dir(tmp_path, text)
    with pytest.raises(UsageError) as err:
        load_scenarios([folder])
    message = err.value.message
    assert str(folder / "mine.toml") in message and field in message, message
    assert "\n" not in message


def test_invalid_toml_and_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"mine\.toml: invalid TOML"):
        load_scenarios([_dir(tmp_path, "name = ")])
    with pytest.raises(UsageError, match="does not exist"):
        load_scenarios([tmp_path / "nowhere"])
    with pytest.raises(UsageError, match="choose one of ward, vector, all"):
        suite_kinds("everything")


def test_a_user_sampler_named_like_a_built_in_one_is_refused(tmp_path: Path) -> None:
    folder = _dir(tmp_path, '[samplers.any_ward]\nsql = "SELECT 1"\n', "samplers.toml")
    with pytest.raises(UsageError) as exc:
        load_scenarios([folder])
    message = exc.value.message
    assert message.startswith(f"{folder / 'samplers.toml'}: field 'samplers.any_ward'"), message
    assert "also defined in" in message and message.endswith("scenarios/samplers.toml")


def test_two_user_files_defining_one_sampler_are_refused(tmp_path: Path) -> None:
    _dir(tmp_path, '[samplers.my_ward]\nsql = "SELECT 1"\n', "a.toml")
    folder = _dir(tmp_path, '[samplers.my_ward]\nsql = "SELECT 2"\n', "b.toml")
    with pytest.raises(UsageError, match="'my_ward' is also defined in .*a.toml"):
        load_scenarios([folder])


@pytest.mark.parametrize("setting", ["default_transaction_read_only", "transaction_read_only"])
def test_a_scenario_may_not_turn_read_only_off(tmp_path: Path, setting: str) -> None:
    folder = _dir(tmp_path, GOOD + f'[settings]\n{setting} = "off"\n')
    with pytest.raises(UsageError, match=f"field 'settings.{setting}': is set by wardbench"):
        load_scenarios([folder])


def test_filtered_vector_search_picks_its_shape_by_query_form() -> None:
    """Selective filters (a ward, a constituency, a day, a week) rank the filtered rows by the Hamming distance of
    their bits (post_embedding_bits, revision 016; no index orders bits, so HNSW cannot serve it), then re-rank the
    closest 200 (a ward: 400) in full precision; their ground truth is the exact answer, distances computed in a
    subquery fenced by OFFSET 0. Broad ones, and the narrow sentiment bands that have partial HNSW graphs of their
    own, order inside a MATERIALIZED CTE, so HNSW can serve them; broad ones with iterative scans, the bands with
    custom plans (a generic plan cannot prove the band inside the index's). Together they span the filter
    spectrum from one quiet ward to half the posts."""
    vector = {s.name: s for s in load_scenarios(kinds=suite_kinds("vector"))}
    quantized = ["vector_search_ward.busy_ward", "vector_search_ward.quiet_ward", "vector_search_constituency",
                 "vector_search_date_day", "vector_search_date_week"]
    bands = ["vector_search_sentiment_extreme.strongly_positive", "vector_search_sentiment_extreme.strongly_negative"]
    broad = ["vector_search_date_range", "vector_search_model.model_v2", "vector_search_model.model_v1",
             "vector_search_sentiment.non_negative"]
    for name in quantized + bands + broad:
        scenario = vector[name]
        sql = " ".join(scenario.sql.split())
        if name in quantized:
            candidates = sql.split("ANY (ARRAY( ", 1)[1].split(" ))", 1)[0]
            assert "FROM post_embedding_bits c" in candidates, name
            assert "ORDER BY c.bits <~> (SELECT binary_quantize(" in candidates, name
            assert candidates.endswith("LIMIT 400" if name.startswith("vector_search_ward") else "LIMIT 200"), name
            assert sql.endswith("ORDER BY distance LIMIT %(k)s"), name
            assert scenario.requires_revision == "016", name
            truth = " ".join((scenario.truth_sql or "").split())
            inner = truth.split("FROM ( ", 1)[1].split(" OFFSET 0 )", 1)[0]
            assert "ORDER BY" not in inner and "bits" not in truth, name
        else:
            cte = sql.split("AS MATERIALIZED", 1)[1].split(") SELECT", 1)[0]
            assert "ORDER BY" in cte, name
        assert ("hnsw.iterative_scan" in scenario.settings) is (name not in quantized), name
        assert (scenario.settings.get("plan_cache_mode") == "force_custom_plan") is (name in bands), name


def test_scenarios_that_read_the_copied_filters_say_which_revision_they_need() -> None:
    """A rehearsal step leaves out a scenario whose schema its older side lacks; the scenarios reading
    post_embeddings' copies of ward, time and score (revision 014) say so, and no other does."""
    needing = {s.name.split(".")[0]: s.requires_revision for s in load_scenarios() if s.requires_revision}
    assert needing == {"vector_search_ward": "016", "vector_search_constituency": "016",
                       "vector_search_date_day": "016", "vector_search_date_week": "016",
                       "vector_search_date_range": "014", "vector_search_sentiment_extreme": "014"}
    for s in load_scenarios():
        reads_copies = any(f"{t}.{c}" in s.sql for t in "ec" for c in ("ward_id", "published_at", "sentiment_score"))
        assert reads_copies is (s.requires_revision is not None), s.name
        assert ("post_embedding_bits" in s.sql) is (s.requires_revision == "016"), s.name
