"""Bulk data: loading files of FHIR resources (``medrec load``) and generated test data."""
