"""FHIR $operations served by the core, one module each."""
