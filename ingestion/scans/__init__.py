"""The image side of digitizing paper records, one module per stage.

``rasterize`` (files → page images) → ``normalize`` (deskew, 300 dpi, even lighting) →
``barcodes``, ``colour`` and ``ocr`` (each reads the normalized page). ``synthetic`` makes test
scans with ground truth; ``metrics`` scores OCR against it.
"""
