"""PySpark jobs, one module per pipeline stage: ``main(argv)`` = read -> pure transforms -> write."""
