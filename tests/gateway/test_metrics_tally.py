"""The gateway's histograms are Tallies (gateway/metrics.py): counted in plain numbers,
shown through prometheus_client's public collector interface exactly as a Histogram of
the same name, labels and buckets is shown. No network, no Redis."""

from __future__ import annotations

import random
import re

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from gateway import metrics
from gateway.metrics import Tally

BOUNDS = (.001, .0025, .01, .1, 1, 2.5, 10)


def _without_created(text: bytes) -> str:
    return re.sub(r"(_created[^ ]*) [0-9.e+]+", r"\1 T", text.decode())


def test_a_tally_shows_what_a_histogram_of_the_same_observations_shows() -> None:
    rng = random.Random(3)
    values = [*BOUNDS, 0.0, 11.0, *(rng.expovariate(20) for _ in range(500))]
    for labelnames, labels in (((), ()), (("route",), ("status",))):
        ours, theirs = CollectorRegistry(), CollectorRegistry()
        tally = Tally("sluis_test_seconds", "Test answer time", BOUNDS, labelnames)
        ours.register(tally)
        histogram = Histogram("sluis_test_seconds", "Test answer time", labelnames,
                              registry=theirs, buckets=BOUNDS)
        if labelnames:
            # A labelled series shows once it has an observation, as a child once made.
            tally.counts("queue_page")
            assert _without_created(generate_latest(ours)) == _without_created(
                generate_latest(theirs))
        child = histogram.labels(*labels) if labels else histogram
        for v in values:
            tally.observe(v, *labels)
            child.observe(v)
        assert _without_created(generate_latest(ours)) == _without_created(
            generate_latest(theirs))
        assert ours.get_sample_value("sluis_test_seconds_created", dict(
            zip(labelnames, labels, strict=True))) is not None


def test_with_several_processes_the_flushed_parts_make_the_same_histogram() -> None:
    tally = Tally("sluis_parts_seconds", "Parts", BOUNDS, ["route"])
    for i, v in enumerate((0.0005, 0.002, 0.5, 0.5, 30.0)):
        tally.observe(v, "status" if i % 2 else "forwarded")
        tally.flush()  # after each: only what is new is added
    tally.flush()
    (parts,) = tally._parts.collect()
    assert {s.labels["part"] for s in parts.samples if s.name.endswith("_total")} == {
        "0.001", "0.0025", "1.0", "+Inf", "sum"}
    (whole,) = tally.collect()
    rebuilt = tally.from_parts(parts)
    assert rebuilt.samples == [s for s in whole.samples if not s.name.endswith("_created")]
    # Before any process flushed, an unlabelled tally shows zeros, a labelled one nothing.
    assert [s.value for s in Tally("sluis_none_seconds", "None", BOUNDS).from_parts(
        None).samples] == [0.0] * (len(BOUNDS) + 3)
    assert tally.from_parts(None).samples == []


def test_the_gateways_histograms_keep_their_names_labels_and_buckets() -> None:
    metrics.request_answered("status", 0.003)
    text = metrics.exposition().decode()
    assert "# TYPE sluis_request_seconds histogram" in text
    assert "# TYPE sluis_backend_request_seconds histogram" in text
    les = re.findall(r'sluis_request_seconds_bucket\{le="([^"]+)",route="status"\}', text)
    assert les == ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.075", "0.1",
                   "0.15", "0.2", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"]
    les = re.findall(r'sluis_backend_request_seconds_bucket\{le="([^"]+)"\}', text)
    assert les == ["0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0",
                   "10.0", "30.0", "+Inf"]
    assert "_tally" not in text
