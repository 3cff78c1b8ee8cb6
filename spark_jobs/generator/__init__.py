"""Synthetic LCL smart-meter data: reference loading, the consumption model, and the byte-exact LCL writer.

Every random draw is a pure hash of (seed, household number, absolute half hour or day), so any household,
day or range can be regenerated alone and gives the same bytes as a bigger run (the live feed relies on this).
"""
