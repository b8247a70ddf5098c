"""The audit trail: an AuditEvent for every access to patient data, hash-chained."""
