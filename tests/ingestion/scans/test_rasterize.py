"""Files → pages: every supported format, scanner PDFs read undecimated, every bad input typed."""

from __future__ import annotations

import io

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image, TiffImagePlugin

from ingestion.scans import synthetic
from ingestion.scans.errors import (
    CorruptFile,
    EmptyDocument,
    EncryptedPdf,
    ScanError,
    TooManyPixels,
    TruncatedFile,
    UnsupportedFormat,
)
from ingestion.scans.rasterize import open_scan, rasterize
from tests.ingestion.scans import files


def test_png_jpeg_and_stated_dpi() -> None:
    image = files.noise_image()
    for fmt in ("PNG", "JPEG"):
        [page] = rasterize(files.encoded(image, fmt, dpi=(200, 200)))
        assert page.pixels.shape == (600, 400, 3)
        assert page.pixels.dtype == np.uint8
        assert page.dpi == pytest.approx(200)
        assert page.origin == "image"
    [png] = rasterize(files.encoded(image, "PNG"))
    assert np.array_equal(png.pixels, np.asarray(image))


def test_implausible_dpi_is_ignored() -> None:
    # A camera's 72 dpi on a 3000-pixel photo would claim a 42-inch page.
    image = Image.new("RGB", (3000, 4000), "white")
    [page] = rasterize(files.encoded(image, "JPEG", dpi=(72, 72)))
    assert page.dpi is None


def test_grayscale_bilevel_16_bit_and_transparent_images() -> None:
    gray = Image.new("L", (40, 30), 90)
    [page] = rasterize(files.encoded(gray, "PNG"))
    assert page.pixels.shape == (30, 40)
    assert int(page.pixels[0, 0]) == 90
    [bilevel] = rasterize(files.encoded(Image.new("1", (40, 30), 1), "TIFF"))
    assert int(bilevel.pixels.min()) == 255
    deep = Image.fromarray(np.full((30, 40), 65535 // 2, dtype=np.uint16))
    [page16] = rasterize(files.encoded(deep, "PNG"))
    assert 120 <= int(page16.pixels[0, 0]) <= 135
    clear = Image.new("RGBA", (40, 30), (255, 0, 0, 0))
    [transparent] = rasterize(files.encoded(clear, "PNG"))
    assert transparent.pixels[0, 0].tolist() == [255, 255, 255]  # laid on white paper


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 30), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    [page] = rasterize(files.encoded(image, "JPEG", exif=exif.tobytes()))
    assert page.pixels.shape[:2] == (40, 30)


def test_multi_page_tiff() -> None:
    pages = [files.noise_image(seed=i) for i in range(3)]
    data = files.encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    read = list(rasterize(data))
    assert [p.index for p in read] == [0, 1, 2]
    for image, page in zip(pages, read, strict=True):
        assert np.array_equal(page.pixels, np.asarray(image))


def test_one_broken_tiff_page_leaves_the_others_readable() -> None:
    pages = [files.noise_image(seed=i) for i in range(3)]
    data = bytearray(
        files.encoded(
            pages[0], "TIFF", save_all=True, append_images=pages[1:], compression="tiff_deflate"
        )
    )
    tiff = Image.open(io.BytesIO(bytes(data)))
    assert isinstance(tiff, TiffImagePlugin.TiffImageFile)
    tiff.seek(1)
    offsets = tiff.tag_v2[TiffImagePlugin.STRIPOFFSETS]
    start = offsets[0] if isinstance(offsets, tuple) else offsets
    data[start : start + 64] = b"\x00" * 64  # page 2's compressed pixels
    with open_scan(bytes(data)) as scan:
        assert scan.page_count == 3
        assert scan.page(0).pixels.shape == (600, 400, 3)
        with pytest.raises(CorruptFile) as broken:
            scan.page(1)
        assert broken.value.page == 1
        assert "page 2" in str(broken.value)
        assert scan.page(2).pixels.shape == (600, 400, 3)


def test_scanner_pdf_gives_the_embedded_image_at_full_resolution() -> None:
    batch = synthetic.batch(seed=3, documents=1, pages_per_document=(1, 1), unsorted=0)
    pages = list(rasterize(batch.data))
    assert len(pages) == len(batch.pages) == 2
    for page in pages:
        assert page.origin == "pdf-embedded"
        assert page.dpi == pytest.approx(300, abs=0.5)
        assert page.pixels.shape in {(3507, 2481, 3), (3300, 2550, 3)}  # A4, Letter
    # The same pixels PDFium shows when it renders the page at the scan's resolution.
    pdf = pdfium.PdfDocument(batch.data)
    rendered = pdf[0].render(scale=300 / 72, rev_byteorder=True).to_numpy()[:, :, :3]
    height = min(rendered.shape[0], pages[0].pixels.shape[0])
    width = min(rendered.shape[1], pages[0].pixels.shape[1])
    difference = np.abs(
        rendered[:height, :width].astype(np.int16) - pages[0].pixels[:height, :width]
    )
    assert float(difference.mean()) < 2.0


def test_born_digital_pdf_is_rendered_at_300_dpi() -> None:
    [page] = rasterize(files.vector_pdf())
    assert page.origin == "pdf-rendered"
    assert page.dpi == 300
    height, width, _ = page.pixels.shape
    assert abs(width - 2550) <= 1 and abs(height - 3300) <= 1  # Letter at 300 dpi
    # The blue rectangle (72,500)-(272,580) pt, drawn in PDF space with y up.
    r, g, b = (int(v) for v in page.pixels[height - round(540 * 300 / 72), round(172 * 300 / 72)])
    assert b > 200 and r < 50 and g < 50


def test_pdf_page_rotation_is_applied() -> None:
    image = Image.new("RGB", (600, 800), "white")
    data = files.encoded(image, "PDF", resolution=100.0)
    rotated = data.replace(b"/Type /Page\n", b"/Type /Page\n/Rotate 90\n", 1)
    assert rotated != data
    [page] = rasterize(rotated)
    assert page.origin == "pdf-embedded"
    assert page.pixels.shape[:2] == (600, 800)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        pytest.param(b"", EmptyDocument, id="empty file"),
        pytest.param(b"hello, this is text", UnsupportedFormat, id="text"),
        pytest.param(files.encoded(files.noise_image(), "GIF"), UnsupportedFormat, id="gif"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, CorruptFile, id="corrupt png"),
        pytest.param(
            files.encoded(files.noise_image(), "JPEG")[:200] + b"\x13" * 4000,
            CorruptFile,
            id="corrupt jpeg",
        ),
        pytest.param(b"II*\x00" + b"\xff" * 300, CorruptFile, id="corrupt tiff"),
        pytest.param(
            files.encoded(files.noise_image(), "PNG")[:-3000], TruncatedFile, id="truncated png"
        ),
        pytest.param(
            files.encoded(files.noise_image(), "JPEG")[:-3000], TruncatedFile, id="truncated jpeg"
        ),
        pytest.param(files.vector_pdf()[:-60], TruncatedFile, id="truncated pdf"),
        pytest.param(
            b"%PDF-1.4\n" + b"rubbish " * 500 + b"\n%%EOF\n", CorruptFile, id="corrupt pdf"
        ),
        pytest.param(files.encrypted_pdf(), EncryptedPdf, id="encrypted pdf"),
        pytest.param(files.zero_page_pdf(), EmptyDocument, id="zero-page pdf"),
    ],
)
def test_bad_input_gives_its_typed_error(data: bytes, error: type[ScanError]) -> None:
    with pytest.raises(error) as raised:
        list(rasterize(data))
    assert str(raised.value)


def test_pdf_errors_do_not_leak_into_each_other() -> None:
    # PDFium's last-error code is global and sticky: a zero-page PDF read after an encrypted
    # one must still be reported as empty, and the other way round.
    for data, error in [
        (files.encrypted_pdf(), EncryptedPdf),
        (files.zero_page_pdf(), EmptyDocument),
        (b"%PDF-1.4\n" + b"rubbish " * 50 + b"\n%%EOF\n", CorruptFile),
        (files.zero_page_pdf(), EmptyDocument),
        (files.encrypted_pdf(), EncryptedPdf),
    ]:
        with pytest.raises(error):
            open_scan(data)
    assert next(iter(rasterize(files.vector_pdf()))).origin == "pdf-rendered"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(files.png_bomb(30_000, 30_000), id="png header 900 Mpx"),
        pytest.param(files.png_bomb(12_000, 12_000), id="png header 144 Mpx"),
        pytest.param(files.jpeg_bomb(30_000, 30_000), id="jpeg header 900 Mpx"),
        pytest.param(files.image_bomb_pdf(20_000, 20_000), id="pdf image 400 Mpx"),
        pytest.param(
            files.image_bomb_pdf(20_000, 20_000, drawn_small=True), id="pdf small image 400 Mpx"
        ),
        pytest.param(files.huge_page_pdf(14_400), id="pdf page 200 in"),
    ],
)
def test_decompression_bombs_are_refused_before_decoding(data: bytes) -> None:
    with pytest.raises(TooManyPixels):
        list(rasterize(data))


def test_pixel_cap_is_configurable() -> None:
    data = files.encoded(files.noise_image(), "PNG")  # 240,000 pixels
    with pytest.raises(TooManyPixels):
        list(rasterize(data, max_pixels=200_000))
    assert len(list(rasterize(data, max_pixels=240_000))) == 1
    with pytest.raises(TooManyPixels):
        list(rasterize(files.image_bomb_pdf(600, 800), max_pixels=100_000))
