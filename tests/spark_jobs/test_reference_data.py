"""The up-front check that the real reference files are where the settings say (see tests/conftest.py)."""

from __future__ import annotations

from spark_jobs.common.settings import Settings, get_settings


def test_missing_reference_files_names_each_absent_file(tmp_path):
    s = Settings(reference_dir=tmp_path)
    expected = [s.household_information_csv, s.tariff_csv, s.weather_csv, s.sample_dir]
    assert s.missing_reference_files() == expected
    s.household_information_csv.write_text("LCLid,stdorToU,Acorn,Acorn_grouped\n")
    s.sample_dir.mkdir()
    assert s.missing_reference_files() == [s.tariff_csv, s.weather_csv]


def test_this_checkouts_reference_data_is_complete():
    assert get_settings().missing_reference_files() == []
