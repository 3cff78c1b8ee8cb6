"""Great Expectations suites kept as code, one module per dataset, and the runner that applies them.

A suite module ``expectations/<dataset>.py`` defines:
- ``build_suite() -> gx.ExpectationSuite``: the expectations for that dataset;
- optionally ``prepare(df: pandas.DataFrame) -> pandas.DataFrame``: derived columns the suite checks
  (e.g. a per household-day count), computed from the rows being validated.
"""
