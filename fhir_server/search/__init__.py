"""FHIR search: the official R4 search parameters (``definitions``), the values a resource is
indexed under (``extract``), how each parameter type is indexed and queried (``index_types``),
and the query side: ``parse`` (query string -> request), ``plan`` (request -> MongoDB),
``paging``, ``include``."""
