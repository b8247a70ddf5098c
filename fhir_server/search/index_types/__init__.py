"""One module per search parameter type, each owning both sides of its index: the entries stored
for a resource's raw values (``index``) and the MongoDB filter for one search value (``query``),
plus ``missing`` and ``sort_value``. ``composite`` combines the others."""
