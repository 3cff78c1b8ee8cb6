"""The GX runner passes good frames, fails bad ones, and names the failed expectation with samples."""

from __future__ import annotations

import sys
import types

import great_expectations as gx
import pandas as pd
import pytest

from expectations.runner import validate_frame


@pytest.fixture()
def demo_suite(monkeypatch):
    module = types.ModuleType("expectations.demo_dataset")

    def build_suite():
        suite = gx.ExpectationSuite(name="demo_dataset")
        suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="household_id"))
        suite.add_expectation(
            gx.expectations.ExpectColumnValuesToBeBetween(column="energy_kwh", min_value=0, max_value=10)
        )
        return suite

    module.build_suite = build_suite
    monkeypatch.setitem(sys.modules, "expectations.demo_dataset", module)
    return "demo_dataset"


def test_good_frame_passes(demo_suite):
    result = validate_frame(demo_suite, pd.DataFrame({"household_id": ["MAC000002"], "energy_kwh": [0.25]}))
    assert result.success
    assert result.evaluated == 2
    assert result.rows_validated == 1


def test_bad_frame_fails_with_samples(demo_suite):
    df = pd.DataFrame({"household_id": ["MAC000002", "MAC000003"], "energy_kwh": [0.25, 9999.0]})
    result = validate_frame(demo_suite, df)
    assert not result.success
    assert [f["expectation"] for f in result.failed] == ["expect_column_values_to_be_between"]
    assert result.failed[0]["sample"] == [9999.0]
    assert "9999.0" in result.message()
