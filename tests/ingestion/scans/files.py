"""Small files built byte by byte for the rasterize tests: good ones, broken ones, bombs."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def noise_image(width: int = 400, height: int = 600, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def pdf(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF whose object i+1 is ``objects[i]`` (object 1 the catalog), with a correct xref."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objects) + 1) + trailer + b">>\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"


def stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d " % len(content) + extra + b" >>\nstream\n" + content + b"\nendstream"


def vector_pdf() -> bytes:
    """A born-digital page: text and a filled rectangle, no image to extract."""
    content = b"BT /F1 36 Tf 72 700 Td (Hello scan) Tj ET 0 0 1 rg 72 500 200 80 re f"
    return pdf(
        [
            CATALOG,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
            stream(content),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def encrypted_pdf() -> bytes:
    """Password-protected (standard security handler, RC4 128-bit): no empty user password."""
    return pdf(
        [
            CATALOG,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
            b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 "
            b"/O <" + b"5a" * 32 + b"> /U <" + b"c3" * 32 + b"> >>",
        ],
        b"/Encrypt 4 0 R /ID [<00112233445566778899aabbccddeeff> "
        b"<00112233445566778899aabbccddeeff>] ",
    )


def zero_page_pdf() -> bytes:
    return pdf([CATALOG, b"<< /Type /Pages /Kids [] /Count 0 >>"])


def image_bomb_pdf(width: int, height: int, *, drawn_small: bool = False) -> bytes:
    """One page showing one image that claims ``width``x``height`` pixels (its data is tiny),
    over the whole page or, ``drawn_small``, as a 1-inch picture beside some vector art."""
    data = zlib.compress(b"\xff" * 1024)
    content = b"q 612 0 0 792 0 0 cm /Im1 Do Q"
    if drawn_small:
        content = b"0 0 1 rg 72 500 200 80 re f q 72 0 0 72 300 300 cm /Im1 Do Q"
    return pdf(
        [
            CATALOG,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /XObject << /Im1 5 0 R >> >> /Contents 4 0 R >>",
            stream(content),
            stream(
                data,
                b"/Type /XObject /Subtype /Image /Width %d /Height %d "
                b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode"
                % (width, height),
            ),
        ]
    )


def huge_page_pdf(points: int) -> bytes:
    """A page ``points``x``points`` large: rendering it at 300 dpi would be a bomb."""
    return pdf(
        [
            CATALOG,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R >>"
            % (points, points),
            stream(b"0 0 1 rg 10 10 100 100 re f"),
        ]
    )


def png_bomb(width: int, height: int) -> bytes:
    """A real PNG whose header claims ``width``x``height``: decoding it would eat gigabytes."""
    png = encoded(Image.new("L", (8, 8), 255), "PNG")
    ihdr_start = 8  # after the signature: length (4), "IHDR" (4), data (13), CRC (4)
    data = struct.pack(">II", width, height) + png[ihdr_start + 16 : ihdr_start + 21]
    chunk = b"IHDR" + data
    patched = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return png[:ihdr_start] + patched + png[ihdr_start + 25 :]


def jpeg_bomb(width: int, height: int) -> bytes:
    """A JPEG whose frame header (SOF0) claims ``width``x``height``."""
    jpeg = bytearray(encoded(Image.new("L", (16, 16), 255), "JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(jpeg)
