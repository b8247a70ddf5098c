"""HL7 v2 feeds → FHIR: MLLP and HTTP transport, parsing, one mapper per message type, ACKs.

A message is parsed (``parse``), mapped to transaction entries (``oru``, ``adt``, ``mdm``),
committed as one transaction with its Provenance, raw Binary and (sender, MSH-10) record
(``receive``), and only then acknowledged (``ack``). Failures land in ``store``'s dead letters.
"""
