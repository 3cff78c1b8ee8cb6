"""The up-front check that the real reference files are where the settings say (see tests/conftest.py)."""

from __future__ import annotations

from spark_jobs.common.settings import Settings


def test_missing_reference_files_names_each_absent_file(tmp_path):
    s = Settings(reference_dir=tmp_path)
    expected = [s.household_information_csv, s.tariff_csv, s.weather_csv, s.sample_dir]
    assert s.missing_reference_files() == expected
    s.household_information_csv.write_text("LCLid,stdorToU,Acorn,Acorn_grouped\n")
    s.sample_dir.mkdir()
    assert s.missing_reference_files() == [s.tariff_csv, s.weather_csv]
    assert s.reference_data_problem() == (
        f"reference data missing: {s.tariff_csv}, {s.weather_csv} - clone the repo beside shared/"
        " or set SMARTMETER_REFERENCE_DIR to the folder holding household_information.csv"
    )
    s.tariff_csv.write_text("")
    s.weather_csv.write_text("")
    assert s.missing_reference_files() == [] and s.reference_data_problem() is None
