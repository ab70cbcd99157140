"""benchmarks/data_path.py reports a loader's steady rate only where one can be measured: the
batches the workers prefetched arrive at once after the first, and on a small folder they are
all there is (a "steady" share of 1400% of decoding alone)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "data_path.py"


@pytest.fixture(scope="module")
def data_path():
    spec = importlib.util.spec_from_file_location("data_path_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_few_batches_that_arrive_together_give_no_steady_rate(data_path):
    # 2 workers, 6 batches of 16 clips: the first after 1 s, the other 5 prefetched, 1 ms apart.
    arrivals = [(1.0 + 0.001 * i, 16 * (i + 1)) for i in range(6)]
    assert data_path.steady_rate(arrivals, workers=2) is None


def test_many_batches_give_the_rate_from_the_first_batch_to_the_last(data_path):
    # 1 worker, 2 s of start-up, then one batch of 16 clips every 0.5 s: 32 clips/s.
    arrivals = [(2.0 + 0.5 * i, 16 * (i + 1)) for i in range(20)]
    assert data_path.steady_rate(arrivals, workers=1) == pytest.approx(16 / 0.5)


def test_a_missing_rate_prints_as_a_dash_not_nan(data_path):
    assert data_path.number(None, "14.1%") == " " * 13 + "-"
    assert data_path.number(0.25, "14.1%") == "         25.0%"
