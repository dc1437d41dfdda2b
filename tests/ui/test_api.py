"""The dashboard's endpoints, in this process, on SQLite (the store contract they read
through is checked on the MongoDB wire backend in tests/store): the JSON each answers,
paging, filters and sorting as ``kleio compare`` has them, curves downsampled, live
output, downloads, and what it refuses."""

from __future__ import annotations

import json
import time
from collections import deque
from urllib.parse import quote, urlencode

import pytest

from kleio.core.model.journal import EventWriter
from kleio.core.model.printed import output_data
from kleio.core.model.trial import TrialSpec, new_trial_document
from kleio.ui.api import cut_to_a_line
from tests.cli.test_after_a_sweep import loss
from tests.helpers import invoke, text
from tests.ui.conftest import IMAGE, IMAGE_STEPS, PASSWORD, SCRIPT, SWEEP, USAGE, serving


@pytest.fixture
def client(journal):
    with journal.store() as store, serving(store) as client:
        yield client


def _query(**params) -> str:
    return "?" + urlencode(params, doseq=True)


def test_info_names_the_journal_and_says_the_dashboard_only_reads(client):
    assert client.json("/api/info") == {
        "version": "test",
        "database": "test journal",
        "read_only": True,
    }


def test_the_trials_list_is_kleio_compares_rows_in_the_same_order(journal, client):
    answer = client.json("/api/trials" + _query(tags="sweep", sort="loss:min"))
    compared = invoke(
        "compare", "--tags", "sweep", "--sort", "loss:min", "--format", "json",
        env=journal.env, cwd=journal.project,
    )  # fmt: skip
    assert compared.returncode == 0, text(compared.stderr)
    rows = json.loads(compared.stdout)
    assert [row["id"] for row in answer["rows"]] == [row["id"] for row in rows]
    expected = sorted(SWEEP, key=lambda name: loss(*SWEEP[name], epoch=3))
    assert [row["id"] for row in answer["rows"]] == [journal.ids[name] for name in expected]
    assert answer["total"] == 6 and answer["offset"] == 0 and answer["limit"] == 50
    assert answer["configuration"] == ["lr", "batch"]
    assert answer["statistics"] == ["acc:last", "epoch:last", "loss:last", "loss:min"]
    assert set(answer["columns"]) == set(rows[0])
    first = answer["rows"][0]
    assert set(first) == set(answer["columns"])
    assert first["short_id"] == first["id"][:7] and first["status"] == "completed"
    assert first["loss:min"] == loss(*SWEEP[expected[0]], epoch=3)
    assert answer["best"] == {"loss:min": first["loss:min"]}
    assert isinstance(first["run_time"], float)


def test_the_trials_list_filters_like_compare(journal, client):
    def ids(**params):
        return {row["id"] for row in client.json("/api/trials" + _query(**params))["rows"]}

    sweep = {journal.ids[name] for name in SWEEP}
    assert ids() == set(journal.ids.values())
    assert ids(tags="sweep") == sweep
    assert ids(tags="sweep", where=["lr<0.05", "batch=32"]) == {journal.ids["b"]}
    assert ids(where="loss:min<0.07") == {journal.ids["b"], journal.ids["c"]}
    assert ids(ids=f"{journal.ids['a'][:7]},{journal.ids['b'][:9]}") == {
        journal.ids["a"],
        journal.ids["b"],
    }
    assert ids(status="completed", tags="tuned") == {journal.ids["h"]}
    assert ids(since="1h") == set(journal.ids.values())
    assert ids(since="2000-01-01", where="tags~hostile") == {
        journal.ids["hostile"],
        journal.ids["g"],
    }
    pair = f"{journal.ids['a']},{journal.ids['b']}"  # batch alike, lr not
    keyed = client.json("/api/trials" + _query(ids=pair, keys="loss:min,acc:max"))
    assert keyed["statistics"] == ["loss:min", "acc:max"]
    assert keyed["configuration"] == ["lr"]
    every = client.json("/api/trials" + _query(ids=pair, all="1"))
    # With --all, the defaults the script's parser filled in are columns too.
    assert every["configuration"] == ["lr", "batch", "epochs", "label", "name", "password", "until"]


def test_the_trials_list_comes_in_pages(journal, client):
    everything = client.json("/api/trials" + _query(sort="lr"))
    assert everything["total"] == len(journal.ids)
    pages = [
        client.json("/api/trials" + _query(sort="lr", offset=offset, limit=3))
        for offset in range(0, everything["total"], 3)
    ]
    assert [row["id"] for page in pages for row in page["rows"]] == [
        row["id"] for row in everything["rows"]
    ]
    assert all(page["total"] == everything["total"] and page["limit"] == 3 for page in pages)
    assert client.json("/api/trials" + _query(limit=10**6))["limit"] == 1000
    assert client.json("/api/trials" + _query(offset=500))["rows"] == []


def test_groups_are_counted_and_averaged_over_every_page_as_numpy_does(journal, client):
    import numpy

    answer = client.json("/api/trials" + _query(tags="sweep", sort="lr", group="batch", limit=2))
    assert len(answer["rows"]) == 2  # a page; the groups are of every row
    groups = answer["groups"]
    assert groups["by"] == ["batch"]
    assert groups["statistics"] == ["acc:last", "epoch:last", "loss:last"]
    by_batch: dict[int, list[str]] = {}
    for name, (_, batch) in sorted(SWEEP.items(), key=lambda item: item[1][0]):
        by_batch.setdefault(batch, []).append(name)
    # In the order of each group's first row (sorted by lr).
    assert [group["values"] for group in groups["rows"]] == [{"batch": b} for b in by_batch]
    for group in groups["rows"]:
        names = by_batch[group["values"]["batch"]]
        assert group["n"] == len(names)
        losses = numpy.array([loss(*SWEEP[name], epoch=3) for name in names])
        shown = group["statistics"]["loss:last"]
        assert shown["mean"] == pytest.approx(numpy.mean(losses), rel=1e-12)
        assert shown["std"] == pytest.approx(numpy.std(losses), rel=1e-12, abs=1e-15)
    # Every key but the seeds: here lr and batch, one trial each.
    every = client.json("/api/trials" + _query(tags="sweep", group="*"))["groups"]
    assert every["by"] == ["lr", "batch"] and [g["n"] for g in every["rows"]] == [1] * 6
    assert all(g["statistics"]["loss:last"]["std"] == 0 for g in every["rows"])
    # Without group, no groups.
    assert "groups" not in client.json("/api/trials" + _query(tags="sweep"))


def test_a_trial_without_a_statistic_is_counted_but_left_out_of_its_mean(empty_store):
    writer = EventWriter()
    values = {"0": 0.5, "1": 0.25, "2": None}  # seed 2 never logged acc
    for seed, acc in values.items():
        spec = TrialSpec("study", ("python", "t.py", "--seed", seed), {"lr": 0.1, "seed": seed})
        document = new_trial_document(spec, status="completed")
        empty_store.create_trial(document)
        logged = {"loss": 1.0 + int(seed)} | ({"acc": acc} if acc is not None else {})
        empty_store.append_events(writer.events(document["_id"], [("statistic", 1.0, logged)]))
    with serving(empty_store) as client:
        groups = client.json("/api/trials" + _query(group="*", all="1"))["groups"]
    assert groups["by"] == ["lr"]  # every key but the seed
    (group,) = groups["rows"]
    assert group["n"] == 3
    assert group["statistics"]["acc:last"] == {"mean": 0.375, "std": 0.125}
    assert group["statistics"]["loss:last"]["mean"] == 2.0


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"group": "nothing"}, "cannot group by 'nothing'"),
        ({"where": "loss:min<<1"}, "bad --where 'loss:min<<1'"),
        ({"sort": "nothing"}, "no trial has the key 'nothing'"),
        ({"status": "finished"}, "unknown status 'finished'"),
        ({"since": "yesterday"}, "bad date 'yesterday'"),
        ({"limit": "ten"}, "limit must be a whole number"),
    ],
)
def test_a_bad_query_is_a_400_with_a_one_line_error(client, params, fragment):
    answer = client.get("/api/trials" + _query(**params))
    assert answer.status == 400
    error = answer.json()["error"]
    assert fragment in error and "\n" not in error


def test_a_trial_answers_everything_kleio_info_knows_and_what_the_page_shows(journal, client):
    trial = client.json("/api/trials/" + journal.ids["h"][:8])
    info = invoke("info", "--json", journal.ids["h"], env=journal.env, cwd=journal.project)
    recorded = json.loads(info.stdout)
    for key in ("id", "status", "tags", "executions", "statistics", "artifacts", "notes"):
        assert trial[key] == recorded[key], key
    assert trial["created"].endswith("Z")  # ISO 8601, as every JSON of Kleio
    assert trial["command"] == "python train.py --lr 0.03"
    # What the script ran with, as kleio info shows it: the command line's values, then
    # the defaults its parser filled in, marked.
    entries = trial["configuration_entries"]
    assert entries[:3] == [
        {"key": "lr", "value": "0.03", "type": "float", "default": False},
        {"key": "batch", "value": "32", "type": "int", "default": True},
        {"key": "epochs", "value": "4", "type": "int", "default": True},
    ]
    assert [entry["key"] for entry in entries] == list(recorded["resolved_configuration"])
    assert [entry["key"] for entry in entries if entry["default"]] == recorded["defaults"]
    assert "+# tuned by hand, not committed" in trial["diff"]
    assert trial["diff_truncated"] is False
    assert trial["summaries"]["loss"] == {
        "count": 4,
        "first": loss(0.03, 32, 0),
        "last": loss(0.03, 32, 3),
        "min": loss(0.03, 32, 3),
        "max": loss(0.03, 32, 0),
    }
    (execution,) = trial["executions"]
    assert execution["status"] == "completed" and execution["host"]["hostname"]
    assert [a["filename"] for a in trial["artifacts"]] == ["model.bin"]
    assert trial["ancestors"] == [] and trial["children"] == []


def test_a_branch_answers_its_lineage(journal, client):
    branch = client.json("/api/trials/" + journal.ids["g"])
    parent = client.json("/api/trials/" + journal.ids["hostile"])
    assert [a["id"] for a in branch["ancestors"]] == [journal.ids["hostile"]]
    assert branch["ancestors"][0]["status"] == "completed"
    assert branch["refers"]["timestamp"] == "epoch=1"
    assert [c["id"] for c in parent["children"]] == [journal.ids["g"]]
    assert branch["summaries"]["epoch"]["first"] == 0  # the parent's epochs 0 and 1 first
    assert branch["summaries"]["epoch"]["count"] == 4


@pytest.mark.parametrize("trial", ["fffffff", "zz", "../../etc"])
def test_an_unknown_trial_is_a_404(client, trial):
    answer = client.get("/api/trials/" + quote(trial, safe=""))
    assert answer.status == 404 and answer.json()["error"]


def test_output_is_the_end_of_what_it_printed_then_what_follows_a_cursor(journal, client):
    path = f"/api/trials/{journal.ids['b']}/output"
    answer = client.json(path)
    printed = "".join(piece["text"] for piece in answer["pieces"])
    assert printed.startswith("epoch 0 loss ") and "trained" in printed
    assert {piece["kind"] for piece in answer["pieces"]} == {"stdout"}
    assert answer["truncated"] is False and answer["status"] == "completed"
    assert answer["cursor"]
    both = client.json(path + "?stderr=1")
    errors = "".join(piece["text"] for piece in both["pieces"] if piece["kind"] == "stderr")
    assert errors == "a warning on stderr\n"
    assert client.json(path + _query(cursor=answer["cursor"]))["pieces"] == []
    everything = client.json(path + _query(cursor=""))  # from the first byte it printed
    assert "".join(piece["text"] for piece in everything["pieces"]) == printed


def test_a_branchs_output_starts_with_its_parents(journal, client):
    answer = client.json(f"/api/trials/{journal.ids['g']}/output")
    printed = "".join(piece["text"] for piece in answer["pieces"])
    assert printed.index("epoch 0 loss") < printed.index("epoch 2 loss")


def test_output_longer_than_the_tail_comes_cut(journal, client, monkeypatch):
    monkeypatch.setattr("kleio.ui.api.OUTPUT_TAIL", 40)
    answer = client.json(f"/api/trials/{journal.ids['b']}/output")
    assert answer["truncated"] is True
    printed = "".join(piece["text"] for piece in answer["pieces"])
    assert printed == "epoch 3 loss 0.057\ntrained  \n"  # from the start of a line


def test_an_artifact_downloads_as_an_attachment_and_no_other_file_can(journal, client):
    trial = client.json("/api/trials/" + journal.ids["a"])
    (model,) = trial["artifacts"]
    answer = client.get(f"/api/trials/{journal.ids['a']}/artifacts/{model['id']}")
    assert answer.status == 200 and answer.body == b"weights of lr 0.1"
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="model.bin"')
    other = client.json("/api/trials/" + journal.ids["b"])["artifacts"][0]["id"]
    for path in (
        f"/api/trials/{journal.ids['a']}/artifacts/{other}",  # another trial's
        f"/api/trials/{journal.ids['a']}/artifacts/..%2F..%2F..%2Fetc%2Fpasswd",
        f"/api/trials/{journal.ids['a']}/artifacts/%2Fetc%2Fpasswd",
        "/static/..%2Fapi.py",
        "/static/../api.py",
        "/static/%2e%2e/server.py",
        "/api/nothing",
    ):
        refused = client.get(path)
        assert refused.status == 404, path
        assert refused.json()["error"]


def test_a_hostile_artifact_name_is_quoted_in_the_download(journal, client):
    trial = client.json("/api/trials/" + journal.ids["hostile"])
    hostile = next(a for a in trial["artifacts"] if a["filename"] != "model.bin")
    assert hostile["filename"] == IMAGE + ".txt"
    answer = client.get(f"/api/trials/{journal.ids['hostile']}/artifacts/{hostile['id']}")
    disposition = answer.headers["Content-Disposition"]
    assert '"' not in disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert "filename*=UTF-8''%22%3E%3Cimg" in disposition
    assert answer.body == b"a file with a hostile name"


def test_an_image_is_served_as_one_under_the_same_headers_and_a_page_never_is(image_journal):
    """The gallery's <img> loads the download address: PNG bytes come as image/png, with
    the policy and nosniff of every answer; bytes that are no image stay opaque whatever
    their name and metadata say."""
    from kleio.ui.server import CONTENT_SECURITY_POLICY
    from tests.client.test_images import read_png

    with image_journal.store() as store, serving(store) as client:
        ids = image_journal.ids
        artifacts = client.json("/api/trials/" + ids["images"])["artifacts"]
        assert sorted((a["filename"], a["attributes"]["step"]) for a in artifacts) == [
            (name, step) for name in ("masks", "samples") for step in IMAGE_STEPS
        ]
        sample = next(
            a for a in artifacts if a["filename"] == "samples" and a["attributes"]["step"] == 2
        )
        assert sample["attributes"] == {
            "step": 2, "loss": 0.333, "kind": "image", "width": 122, "height": 90,
            "mode": "RGB", "format": "png",
        }  # fmt: skip
        answer = client.get(f"/api/trials/{ids['images']}/artifacts/{sample['id']}")
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "image/png"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert int(answer.headers["Content-Length"]) == sample["size"] == len(answer.body)
        assert read_png(answer.body)[:2] == (122, 90)
        head = client.get(f"/api/trials/{ids['images']}/artifacts/{sample['id']}", method="HEAD")
        assert head.headers["Content-Type"] == "image/png" and head.body == b""
        page = next(
            a
            for a in client.json("/api/trials/" + ids["hostile"])["artifacts"]
            if a["filename"] == "page.png"
        )
        assert page["attributes"]["kind"] == "image"  # the script said so
        answer = client.get(f"/api/trials/{ids['hostile']}/artifacts/{page['id']}")
        assert answer.headers["Content-Type"] == "application/octet-stream"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.body.startswith(b"<html>")


def test_keys_are_the_statistics_logged_as_numbers(journal, client):
    answer = client.json("/api/keys" + _query(trials=f"{journal.ids['a']},{journal.ids['b']}"))
    assert answer == {
        "statistics": ["acc", "epoch", "loss"],
        "x": ["step", "time", "acc", "epoch", "loss"],
    }
    assert client.json("/api/keys")["statistics"] == []


def test_series_are_the_curves_of_kleio_plot(journal, client):
    ids = f"{journal.ids['a']},{journal.ids['b']}"
    answer = client.json("/api/series" + _query(trials=ids, y="loss,acc", x="epoch"))
    assert answer["x"] == "epoch" and answer["missing"] == []
    assert len(answer["curves"]) == 4
    curve = next(
        c for c in answer["curves"] if c["trial"] == journal.ids["a"] and c["key"] == "loss"
    )
    assert set(curve) == {
        "trial", "short_id", "status", "key", "label", "x", "y", "points", "branch_points",
        "colour", "style", "per_x",
    }  # fmt: skip
    assert curve["x"] == [0, 1, 2, 3]
    assert curve["y"] == [loss(0.1, 32, epoch) for epoch in range(4)]
    assert curve["label"] == f"{journal.ids['a'][:7]} lr=0.1 loss"  # batch is alike
    assert curve["points"] == 4 and curve["branch_points"] == [] and curve["status"] == "completed"
    smoothed = client.json("/api/series" + _query(trials=ids, y="loss", smooth="0.5"))
    first = next(c for c in smoothed["curves"] if c["trial"] == journal.ids["a"])
    assert first["y"][0] == curve["y"][0] and first["y"][1] != curve["y"][1]


def test_a_curve_comes_with_the_colour_and_style_of_kleio_plot_against_its_default_x(
    journal, client
):
    from pathlib import Path

    import kleio.ui
    from kleio.core.reading.series import PALETTE, STYLES

    ids = f"{journal.ids['a']},{journal.ids['b']}"
    answer = client.json("/api/series" + _query(trials=ids, y="loss,acc"))
    assert answer["x"] == "epoch"  # none asked for: every record has an epoch
    looks = [(c["trial"], c["key"], c["colour"], c["style"]) for c in answer["curves"]]
    assert looks == [
        (journal.ids["a"], "loss", PALETTE[0], "solid"),
        (journal.ids["a"], "acc", PALETTE[0], "dashed"),
        (journal.ids["b"], "loss", PALETTE[1], "solid"),
        (journal.ids["b"], "acc", PALETTE[1], "dashed"),
    ]
    assert all(c["per_x"] == 1 for c in answer["curves"])
    # The page draws the colour it is given, and has a dash pattern for every style.
    script = (Path(kleio.ui.__file__).parent / "static" / "app.js").read_text()
    dashes = script.split("const DASHES = {", 1)[1].split("};", 1)[0]
    assert [name for name in STYLES if f'"{name}":' in dashes or f"{name}:" in dashes] == list(
        STYLES
    )
    assert "stroke: c.colour" in script and "#1f77b4" not in script


def test_resource_use_is_drawn_against_time_from_the_samples(journal, client):
    trial = journal.ids["h"]
    keys = client.json("/api/keys" + _query(trials=trial, kind="usage"))
    assert keys["statistics"] == [
        "cpu_percent", "execution", "gpu0_memory", "gpu0_utilization", "processes", "rss",
        "threads",
    ]  # fmt: skip
    answer = client.json(
        "/api/series" + _query(trials=trial, kind="usage", x="time", y="cpu_percent,rss")
    )
    cpu, memory = answer["curves"]
    assert cpu["key"] == "cpu_percent" and memory["key"] == "rss"
    assert cpu["x"] == [10.0 * i for i in range(12)]  # seconds since the first sample
    assert cpu["y"] == [data["cpu_percent"] for _, _, data in USAGE]
    assert memory["y"][-1] == (300 + 20 * 11) << 20
    assert client.json("/api/keys" + _query(trials=journal.ids["a"], kind="usage")) == {
        "statistics": [],
        "x": ["step", "time"],
    }
    refused = client.get("/api/series" + _query(trials=trial, kind="stdout", y="text"))
    assert (
        refused.status == 400 and "kind must be one of statistic, usage" in refused.json()["error"]
    )


def test_a_branch_curve_marks_its_branch_point(journal, client):
    answer = client.json("/api/series" + _query(trials=journal.ids["g"], y="loss", x="epoch"))
    (curve,) = answer["curves"]
    assert curve["x"] == [0, 1, 2, 3] and curve["branch_points"] == [1]
    assert curve["y"][:2] == [loss(0.3, 32, 0), loss(0.3, 32, 1)]  # its parent's
    assert curve["y"][2:] == [loss(0.4, 32, 2), loss(0.4, 32, 3)]


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"y": "los"}, "no trial logged a number 'los'"),
        ({"y": "loss", "x": "nothing"}, "for the x axis"),
        ({"y": "loss", "smooth": "x"}, "smooth must be a number"),
        ({"y": "loss", "smooth": "2"}, "below 1"),
        ({"y": ""}, "no statistic to draw"),
        ({"y": "loss", "x_min": "left"}, "x_min must be a number"),
        ({"y": "loss", "x_max": "nan"}, "x_max must be a number"),
        ({"y": "loss", "x_min": "5", "x_max": "1"}, "x_min (5) is past x_max (1)"),
    ],
)
def test_a_bad_curve_request_is_a_400(journal, client, params, fragment):
    answer = client.get("/api/series" + _query(trials=journal.ids["a"], **params))
    assert answer.status == 400 and fragment in answer.json()["error"]
    assert client.get("/api/series?y=loss").status == 400  # no trial


@pytest.fixture
def empty_store(tmp_path):
    """A journal of its own, for a test that writes."""
    from kleio.core.model.catalogue import open_journal

    with open_journal(str(tmp_path / "kleio.db"), "kleio") as store:
        yield store


def _running_trial(store, name: str) -> str:
    document = new_trial_document(
        TrialSpec("live", ("python", "live.py", name)), status="running", heartbeat=time.time()
    )
    store.create_trial(document)
    return document["_id"]


def test_a_long_curve_is_downsampled_and_a_running_one_grows(empty_store):
    count = 20_000  # two pages of the 10,000 statistics a series reads at a time
    writer = EventWriter()
    store = empty_store
    with serving(store) as client:
        trial = _running_trial(store, f"{count}")
        for start in range(0, count, 10_000):
            items = [
                ("statistic", 1000.0 + i, {"step": i, "loss": 1 / (i + 1) + (i == 12_345)})
                for i in range(start, min(start + 10_000, count))
            ]
            store.append_events(writer.events(trial, items))
        path = "/api/series" + _query(trials=trial, y="loss", points=500)
        (curve,) = client.json(path)["curves"]
        assert curve["points"] == count and len(curve["x"]) <= 4 * 500
        assert curve["x"][0] == 0 and curve["x"][-1] == count - 1
        assert max(curve["y"]) == 1 + 1 / 12_346 and curve["y"][0] == 1  # the spike is kept
        assert curve["status"] == "running"
        store.append_events(
            writer.events(trial, [("statistic", 5000.0, {"step": count, "loss": 7.0})])
        )
        (grown,) = client.json(path)["curves"]
        assert grown["points"] == count + 1 and grown["y"][-1] == 7.0


@pytest.mark.parametrize("x", ["step", "time"])
def test_a_zoom_draws_its_range_from_the_blocks_or_from_its_exact_points_alone(
    empty_store, monkeypatch, x
):
    """6,000 statistics in 120 blocks of 50, long from 500 records: a range of 20 blocks
    at 20 pixels is drawn from the blocks; one of 2 blocks at 10 pixels from the exact
    points of those blocks alone, the curve of the points in the range, as a trial read
    whole draws it."""
    from kleio.core.reading import curves

    store, writer = empty_store, EventWriter()
    trial = _running_trial(store, "zoom")
    losses = [((i * 7919) % 1000) / 1000 + (i == 1_030) for i in range(6_000)]
    for start in range(0, 6_000, 50):
        items = [("statistic", 1000.0 + i, {"loss": losses[i]}) for i in range(start, start + 50)]
        store.append_events(writer.events(trial, items))
    # MongoDB makes the blocks of small appends on first read, of 50 here (1,000 in use).
    monkeypatch.setattr("kleio.store.mongodb.BLOCK_EVENTS", 50)
    assert len(store.read_blocks(trial, "statistic")) == 120
    read, original = [], store.read_events

    def counted(*args, **kwargs):
        for event in original(*args, **kwargs):
            read.append(event)
            yield event

    monkeypatch.setattr(store, "read_events", counted)
    with serving(store) as client:

        def curve(**params):
            path = "/api/series" + _query(trials=trial, y="loss", x=x, **params)
            (found,) = client.json(path)["curves"]
            return found

        exact = curve(points=10, x_min=1_010, x_max=1_060)
        monkeypatch.setattr(curves, "BLOCKED_FROM", 500)
        read.clear()
        wide = curve(points=20, x_min=1_000, x_max=1_999)
        assert not [e for e in read if e.kind == "statistic"]  # from the blocks
        assert wide["points"] == 1_000 and len(wide["x"]) <= 4 * 20
        assert (min(wide["y"]), max(wide["y"])) == (min(losses[1_000:2_000]), losses[1_030])
        read.clear()
        zoomed = curve(points=10, x_min=1_010, x_max=1_060)
        statistics = [e for e in read if e.kind == "statistic"]
        assert 0 < len(statistics) <= 2 * 50 + 1  # its two blocks (and the page's end)
    assert zoomed == exact and exact["points"] == 51
    assert exact["x"][0] == 1_010 and exact["x"][-1] == 1_060 and max(exact["y"]) == losses[1_030]


def test_a_running_trials_output_follows_its_cursor(empty_store):
    writer = EventWriter()
    store = empty_store
    with serving(store) as client:
        trial = _running_trial(store, "output")
        store.append_events(
            writer.events(trial, [("stdout", time.time(), d) for d in output_data(b"one\n")])
        )
        first = client.json(f"/api/trials/{trial}/output")
        assert first["pieces"] == [{"kind": "stdout", "text": "one\n"}]
        assert first["status"] == "running"
        store.append_events(
            writer.events(trial, [("stdout", time.time(), d) for d in output_data(b"two\n")])
        )
        later = client.json(f"/api/trials/{trial}/output" + _query(cursor=first["cursor"]))
        assert later["pieces"] == [{"kind": "stdout", "text": "two\n"}]
        assert later["cursor"] > first["cursor"]


def test_every_answer_forbids_foreign_scripts_and_sniffing(journal, client):
    for path in ("/", "/static/app.js", "/api/trials", f"/api/trials/{journal.ids['a']}", "/x"):
        headers = client.get(path).headers
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy, path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Server-Timing"].startswith("answer;dur=")
    page = client.get("/")
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script src="/static/app.js"' in page.body


def test_the_page_and_its_assets_are_served_from_the_package(client):
    for name, kind in (
        ("app.js", "text/javascript"),
        ("app.css", "text/css"),
        ("uPlot.iife.min.js", "text/javascript"),
        ("uPlot.min.css", "text/css"),
        ("uPlot.LICENSE", "text/plain"),
    ):
        answer = client.get("/static/" + name)
        assert answer.status == 200 and answer.headers["Content-Type"].startswith(kind), name
    assert b"MIT License" in client.get("/static/uPlot.LICENSE").body


def test_answers_are_compressed_for_a_browser_that_accepts_gzip(client):
    plain = client.get("/static/uPlot.iife.min.js")
    packed = client.get("/static/uPlot.iife.min.js", {"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert int(packed.headers["Content-Length"]) < len(plain.body) / 2
    assert packed.body == plain.body


def test_requests_addressed_to_another_name_are_refused(client):
    """A web page elsewhere cannot read the journal through a DNS name pointed here."""
    refused = client.get("/api/trials", {"Host": "attacker.example:8321"})
    assert refused.status == 403 and "127.0.0.1 or localhost" in refused.json()["error"]
    port = client.url.rsplit(":", 1)[1]
    for name in ("127.0.0.1", "localhost"):
        assert client.get("/api/info", {"Host": f"{name}:{port}"}).status == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_the_dashboard_only_reads(client, method):
    answer = client.get("/api/trials", method=method)
    assert answer.status == 405 and answer.json()["error"] == "the dashboard only reads"


def test_no_answer_holds_the_password_of_a_command_line(journal, client):
    hostile = journal.ids["hostile"]
    paths = [
        "/api/trials" + _query(all="1"),
        f"/api/trials/{hostile}",
        f"/api/trials/{hostile}/output?stderr=1",
        "/api/series" + _query(trials=hostile, y="loss"),
    ]
    for path in paths:
        body = client.get(path).body.decode()
        assert PASSWORD not in body, path
    trial = client.json(f"/api/trials/{hostile}")
    assert "--password '***'" in trial["command"] or "--password ***" in trial["command"]
    # The hostile values come back as the text they are; the page writes them as text.
    assert (
        SCRIPT in trial["command"]
        and {"key": "label", "value": IMAGE, "type": "text", "default": False}
        in (trial["configuration_entries"])
    )


@pytest.mark.parametrize(
    "pieces",
    [
        ["epoch 2 loss 0.061\nepoch 3 loss 0.057\ntrained  \n"],
        ["epoch 2 loss 0.061", "\n", "epoch 3 loss 0.057", "\n", "trained  ", "\n"],
        ["epoch 2 lo", "ss 0.061", "\nepoch 3 loss 0.057\n", "trained  \n"],
    ],
)
def test_a_cut_tail_starts_a_line_however_the_output_came_in_pieces(pieces):
    """A pipe may be read between a line and its newline: the tail still starts a line."""
    held = deque({"kind": "stdout", "text": text} for text in pieces)
    cut_to_a_line(held, sum(map(len, pieces)) - 40)
    assert "".join(piece["text"] for piece in held) == "epoch 3 loss 0.057\ntrained  \n"


def test_a_tail_that_is_one_line_keeps_its_end():
    held = deque([{"kind": "stdout", "text": "x" * 100 + "\n"}])
    cut_to_a_line(held, 60)
    assert "".join(piece["text"] for piece in held) == "x" * 40 + "\n"


def test_the_trials_list_selects_a_study(empty_store):
    """``study=NAME`` (the page's study filter) lists the trials a sweep saved in it."""
    made = {}
    for study in ("lrs", "lrs", "other", None):
        document = new_trial_document(
            TrialSpec("p", ("python", "t.py", str(len(made)))),
            **({"study": study} if study else {}),
        )
        empty_store.create_trial(document)
        made[document["_id"]] = study
    with serving(empty_store) as client:
        rows = client.json("/api/trials" + _query(study="lrs"))["rows"]
        assert {row["id"] for row in rows} == {i for i, s in made.items() if s == "lrs"}
        assert client.json("/api/trials" + _query(study="nosuch"))["rows"] == []
