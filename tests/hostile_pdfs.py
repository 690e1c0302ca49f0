"""A corpus of hostile files, made on the fly from real PDFs with PyMuPDF (nothing binary is committed).

Each maker writes one file and returns its path; :func:`make_hostile_corpus` writes them all. The big ones (2,000
pages, ~50 MB of images) take a few seconds, so tests build the corpus once per session.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pymupdf

TEST_PDFS = Path(__file__).resolve().parent / "data" / "pdfs"
REAL = TEST_PDFS / "PMC4736312.pdf"
ODD_TEXT = ("Odd\x00text: \u202eRTL override\u202c, zero\u200bwidth\u200d joiner, \ufeffBOM, emoji \U0001f9ec, "
            "Hebrew \u05e9\u05dc\u05d5\u05dd, Arabic \u0645\u0631\u062d\u0628\u0627, CJK \u533b\u5b66, "
            "combining e\u0301\u0301\u0301, replacement \ufffd.")


def text_pdf(path: Path, title: str, pages: list[str], fontsize: float = 11) -> Path:
    """A small real PDF: the title in large type on page 1, then one paragraph per page."""
    doc = pymupdf.open()
    for i, text in enumerate(pages):
        page = doc.new_page()
        top = 72
        if i == 0:
            page.insert_textbox(pymupdf.Rect(72, top, 540, top + 80), title, fontsize=18)
            top += 100
        page.insert_textbox(pymupdf.Rect(72, top, 540, 760), text, fontsize=fontsize)
    doc.set_metadata({"title": title})
    doc.save(path)
    doc.close()
    return path


def truncated(folder: Path) -> Path:
    path = folder / "truncated.pdf"
    path.write_bytes(REAL.read_bytes()[: REAL.stat().st_size * 2 // 5])
    return path


def corrupt_xref(folder: Path) -> Path:
    """The cross-reference table overwritten with garbage and ``startxref`` pointing nowhere; %%EOF is intact."""
    data = bytearray(pymupdf.open(REAL).tobytes(garbage=0, no_new_id=True, expand=0, use_objstms=0))
    start = data.rfind(b"\nxref")
    if start > 0:
        end = data.find(b"trailer", start)
        data[start + 6 : end] = re.sub(rb"\d", b"7", bytes(data[start + 6 : end]))
    data = re.sub(rb"startxref\s+\d+", b"startxref\n999999999", bytes(data))
    path = folder / "corrupt_xref.pdf"
    path.write_bytes(data)
    return path


def encrypted(folder: Path, user_pw: str) -> Path:
    """AES-256 encrypted; with an empty user password anyone may open it (only the owner password is set)."""
    path = folder / ("encrypted_user_pw.pdf" if user_pw else "encrypted_owner_only.pdf")
    with pymupdf.open(REAL) as doc:
        doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw=user_pw, owner_pw="owner-secret",
                 permissions=pymupdf.PDF_PERM_PRINT)
    return path


def scanned(folder: Path, n_pages: int = 3) -> Path:
    """Pages holding only an image of text (as a scanner makes them): no text layer at all."""
    src = pymupdf.open()
    src.new_page(width=300, height=120).insert_text((10, 60), "Scanned page, no text layer", fontsize=14)
    pix = src[0].get_pixmap(dpi=100)
    doc = pymupdf.open()
    for _ in range(n_pages):
        doc.new_page().insert_image(pymupdf.Rect(50, 50, 550, 250), pixmap=pix)
    path = folder / "scanned.pdf"
    doc.save(path)
    return path


def many_pages(folder: Path, n_pages: int = 2000) -> Path:
    """A 2,000-page PDF, one short paragraph per page (a textbook-sized file)."""
    words = ["thyroid", "insulin", "renal", "hepatic", "cardiac", "sepsis", "asthma", "anaemia", "stroke", "gout"]
    doc = pymupdf.open()
    for i in range(n_pages):
        topic = f"{words[i % 10]} {words[i // 10 % 10]} {words[i // 100 % 10]} {words[i // 1000 % 10]}"
        page = doc.new_page(width=400, height=300)
        page.insert_text((30, 30), "Handbook of Internal Medicine", fontsize=8)
        page.insert_text((30, 90), f"Management of {topic} disease in adults.", fontsize=10)
        page.insert_text((30, 105), f"The dose of drug {i} is adjusted to {topic} function.", fontsize=10)
        page.insert_text((190, 280), str(i + 1), fontsize=8)
    doc.set_metadata({"title": "A two thousand page handbook"})
    path = folder / "pages_2000.pdf"
    doc.save(path, garbage=1, deflate=True)
    return path


def big_images(folder: Path, megabytes: int = 50) -> Path:
    """About ``megabytes`` MB of incompressible images (random noise, 1 MB each) behind one page of real text."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 400), "Image-heavy atlas of dermatology. " * 20, fontsize=11)
    side = 590  # 590 * 590 * 3 bytes of noise is about 1 MB, which deflate cannot shrink
    for i in range(megabytes):
        pix = pymupdf.Pixmap(pymupdf.csRGB, side, side, os.urandom(side * side * 3), False)
        if i % 10 == 0:
            page = doc.new_page()
        page.insert_image(pymupdf.Rect(20 + 110 * (i % 5), 20 + 300 * (i % 10 // 5), 120 + 110 * (i % 5),
                                       120 + 300 * (i % 10 // 5)), pixmap=pix)
    path = folder / "images_50mb.pdf"
    doc.save(path)
    return path


def not_a_pdf(folder: Path) -> list[Path]:
    """An HTML page, a PNG and a ZIP, each saved with a .pdf name."""
    html = folder / "webpage.pdf"
    html.write_bytes(b"<!DOCTYPE html><html><body>Access denied</body></html>\n")
    png = folder / "picture.pdf"
    png.write_bytes(pymupdf.open().new_page(width=50, height=50).get_pixmap().tobytes("png"))
    zipped = folder / "archive.pdf"
    zipped.write_bytes(b"PK\x03\x04" + os.urandom(2000))
    return [html, png, zipped]


def odd_unicode(folder: Path) -> Path:
    """NUL, RTL overrides, zero-width characters, a lone UTF-16 surrogate and emoji in the text and the metadata.

    The text layer maps its glyphs through a ToUnicode CMap to code points a font could never show (U+0000, an
    unpaired surrogate U+D800, U+202E), which is what text extraction then returns.
    """
    doc = pymupdf.open()
    page = doc.new_page()
    body = ("Odd characters study. Zinc supplementation shortens the common cold in children and adults "
            "when started within a day of symptoms. ") * 6
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 500), body, fontsize=11)
    page.insert_text((72, 560), "ABC", fontsize=11, fontname="cour")
    font_xref = next(f[0] for f in page.get_fonts() if "Courier" in f[3])
    cmap = (b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Odd def\n"
            b"1 begincodespacerange <00> <FF> endcodespacerange\n"
            b"3 beginbfchar <41> <0000> <42> <D800> <43> <202E> endbfchar\n"
            b"endcmap CMapName currentdict /CMap defineresource pop end end\n")
    cmap_xref = doc.get_new_xref()
    doc.update_object(cmap_xref, "<<>>")
    doc.update_stream(cmap_xref, cmap)
    doc.xref_set_key(font_xref, "ToUnicode", f"{cmap_xref} 0 R")
    doc.set_metadata({"title": ODD_TEXT, "author": "N\x00body \u202eevil\u202c", "keywords": ODD_TEXT})
    info = doc.xref_get_key(-1, "Info")[1]
    info_xref = int(info.split()[0])
    doc.xref_set_key(info_xref, "Subject", "<FEFFD800004100000041>")  # lone surrogate, NUL, in UTF-16BE
    path = folder / "odd_unicode.pdf"
    doc.save(path)
    return path


def nul_bytes(folder: Path) -> Path:
    """A real PDF followed by a megabyte of NUL bytes (a bad download padded out)."""
    path = folder / "nul_padded.pdf"
    path.write_bytes(REAL.read_bytes() + b"\x00" * (1 << 20))
    return path


def duplicates(folder: Path) -> list[Path]:
    """The same committed paper twice more under new names."""
    out = []
    for name in ("copy of paper.pdf", "Paper (final) FINAL.pdf"):
        path = folder / name
        path.write_bytes(REAL.read_bytes())
        out.append(path)
    return out


def make_hostile_corpus(folder: Path, big: bool = True) -> dict[str, Path]:
    """Every hostile file by case name; ``big`` adds the 2,000-page and the 50 MB file."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {
        "truncated": truncated(folder),
        "corrupt_xref": corrupt_xref(folder),
        "encrypted_user_pw": encrypted(folder, "secret"),
        "encrypted_owner_only": encrypted(folder, ""),
        "scanned": scanned(folder),
        "odd_unicode": odd_unicode(folder),
        "nul_padded": nul_bytes(folder),
    }
    out |= {f"not_a_pdf_{p.stem}": p for p in not_a_pdf(folder)}
    out |= {f"duplicate_{i}": p for i, p in enumerate(duplicates(folder))}
    if big:
        out["pages_2000"] = many_pages(folder)
        out["images_50mb"] = big_images(folder)
    return out


# -- mutation fuzzing -----------------------------------------------------------------------------------------
MUTATIONS = ("flip", "insert", "delete", "truncate", "splice", "number")


def fuzz_seeds() -> list[bytes]:
    """Real PDFs to mutate: the committed papers as they are and with every stream uncompressed (so mutations reach
    content-stream operators, fonts and CMaps), plus a small generated one with a ToUnicode CMap."""
    seeds = []
    for pdf in sorted(TEST_PDFS.glob("*.pdf"))[:2]:
        seeds.append(pdf.read_bytes())
        with pymupdf.open(pdf) as doc:
            seeds.append(doc.tobytes(expand=255, garbage=1))
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Small seed: methylene blue for methemoglobinemia.", fontsize=11)
    seeds.append(doc.tobytes(expand=255))
    return seeds


def mutate(data: bytes, ops: list[tuple[str, float, int, bytes]]) -> bytes:
    """Apply ``(kind, where 0..1, length, payload)`` mutations in order: flip bytes, insert, delete, truncate, splice
    a copy of another region, or rewrite a number (object offsets, lengths, counts) to the payload's digits."""
    out = bytearray(data)
    for kind, where, length, payload in ops:
        at = int(where * max(len(out) - 1, 0))
        if kind == "flip":
            for i, b in enumerate(payload[:length] or b"\xff"):
                if at + i < len(out):
                    out[at + i] ^= b or 0xFF
        elif kind == "insert":
            out[at:at] = payload
        elif kind == "delete":
            del out[at : at + length]
        elif kind == "truncate":
            del out[max(at, 16):]
        elif kind == "splice":
            src = int((length / 1000) * max(len(out) - 1, 0)) % max(len(out), 1)
            out[at:at] = out[src : src + len(payload) * 8 + 1]
        elif kind == "number":
            match = re.compile(rb"\d+").search(bytes(out), at)
            if match:
                digits = "".join(str(b % 10) for b in payload[:9]) or "0"
                out[match.start() : match.end()] = (digits if length % 3 else str(-int(digits))).encode()
    return bytes(out)
