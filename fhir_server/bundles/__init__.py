"""Transaction and batch bundles: entries parsed, placeholders and conditional references
resolved, then processed through the repository (a transaction in one MongoDB transaction)."""
