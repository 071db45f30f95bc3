"""Remittance advice PDFs, tested by rendering: the text a reader sees (pdftotext), the fonts
embedded (pdffonts) and page 1 as a picture (pdftoppm) that must not be blank."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from shared.adapters.documents.remittance_pdf import (
    FetchRefused,
    labels,
    refuse_fetch,
    render_html,
    render_pdf,
)
from shared.domain.payout_contents import ContentKind, LeftReason
from shared.domain.payouts import PayoutStatus
from shared.domain.remittance import (
    SUPPORTED_LANGUAGES,
    PayoutNotPaid,
    advice_language,
    remittance_advice,
)
from tools.sample_documents import MARKETPLACE, sample_advice, sample_history, sample_seller

POPPLER = {tool: shutil.which(tool) for tool in ("pdftotext", "pdftoppm", "pdffonts")}

# What a reader must find, written by hand (not by the code under test): the title, the paid
# date, the total, the refund's amount and the sale's, each in the language's own conventions.
EXPECTED = {
    "en": ("Remittance advice", "November 3, 2026", "€40.00", "-€150.00", "€200.00"),
    "fr": ("Avis de paiement", "3 novembre 2026", "40,00 €", "-150,00 €", "200,00 €"),
    "de": ("Zahlungsavis", "3. November 2026", "40,00 €", "-150,00 €", "200,00 €"),
    "es": ("Aviso de pago", "3 de noviembre de 2026", "40,00 €", "-150,00 €", "200,00 €"),
    "it": ("Avviso di pagamento", "3 novembre 2026", "40,00 €", "-150,00 €", "200,00 €"),
    "ja": ("送金明細書", "2026年11月3日", "€40.00", "-€150.00", "€200.00"),
}


def _tool(name: str) -> str:
    path = POPPLER[name]
    assert path, f"{name} is missing: run scripts/bootstrap.sh as root (Debian package poppler-utils)"
    return path


def words(text: str) -> str:
    """Any run of spaces (Babel writes no-break and narrow no-break spaces) as one space."""
    return re.sub(r"[\s\u00a0\u202f]+", " ", text)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("advice")
    out = {}
    for language in SUPPORTED_LANGUAGES:
        path = folder / f"{language}.pdf"
        path.write_bytes(render_pdf(sample_advice(language)))
        out[language] = path
    return out


def pdf_text(path: Path, *flags: str) -> str:
    """The text as pdftotext reads it: by default block by block (a cell's wrapped lines stay
    together); with ``-layout``, line by line as printed (a table row's cells on one line)."""
    return subprocess.run(
        [_tool("pdftotext"), *flags, str(path), "-"], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def printed_line(layout: str, *parts: str) -> str | None:
    """The printed line holding every one of ``parts``, in that order, if any."""
    for raw in layout.splitlines():
        line = words(raw)
        positions = [line.find(words(part)) for part in parts]
        if all(p >= 0 for p in positions) and positions == sorted(positions):
            return line
    return None


def non_white_share(png: Path) -> float:
    with Image.open(png) as image:
        grey = image.convert("L")
        histogram = grey.histogram()
    dark = sum(histogram[:245])  # anything visibly not white
    return dark / (grey.width * grey.height)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_the_advice_reads_right_in_each_language(rendered, language):
    text = words(pdf_text(rendered[language]))
    title, paid_on, total, refund, sale = EXPECTED[language]
    t = labels()[language]
    for expected in (title, paid_on, total, refund, MARKETPLACE, "Refurb Shop Lyon", "FR••••0189"):
        assert expected in text, (language, expected)
    for expected in ("po_sample_lyon_10", "ol-phone-1001", "ol-cable-1003", "rf-1001-a"):
        assert expected in text, (language, expected)
    for kind in ("sale", "commission", "refund", "commission_returned", "left_for_later"):
        assert words(t["kinds"][kind]) in text, (language, kind)
    assert words(t["reasons"]["partial_amount"]) in text


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_each_row_prints_its_line_and_amount_and_the_total_is_last(rendered, language):
    layout = pdf_text(rendered[language], "-layout")
    _, _, total, refund, sale = EXPECTED[language]
    t = labels()[language]
    assert printed_line(layout, t["kinds"]["sale"], "ol-cable-1003", sale)
    assert printed_line(layout, "ol-phone-1001", "rf-1001-a", refund)
    total_line = printed_line(layout, t["total"], total)
    assert total_line is not None
    rows = [words(line) for line in layout.splitlines() if line.strip()]
    assert rows.index(total_line) > rows.index(printed_line(layout, "ol-cable-1003", sale))


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_the_lines_on_the_page_sum_to_the_total_printed(rendered, language):
    advice = sample_advice(language)
    assert advice.total() == advice.amount
    assert [line.kind for line in advice.lines] == [
        ContentKind.REFUND,
        ContentKind.COMMISSION_RETURNED,
        ContentKind.SALE,
        ContentKind.COMMISSION,
        ContentKind.LEFT_FOR_LATER,
    ]


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_page_one_is_not_blank(rendered, language, tmp_path):
    prefix = tmp_path / language
    subprocess.run(
        [
            _tool("pdftoppm"),
            "-png",
            "-r",
            "40",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(rendered[language]),
            str(prefix),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    share = non_white_share(prefix.with_suffix(".png"))
    assert 0.01 < share < 0.5, share  # ink on the page, and not a black page either


def test_the_blank_check_tells_a_blank_page(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (331, 468), "white").save(blank)
    assert non_white_share(blank) == 0


def test_japanese_is_set_in_a_cjk_font_and_latin_in_dejavu(rendered):
    def fonts(path: Path) -> str:
        return subprocess.run(
            [_tool("pdffonts"), str(path)], check=True, capture_output=True, text=True, timeout=60
        ).stdout

    assert "Noto-Sans-CJK-JP" in fonts(rendered["ja"])
    assert "DejaVu-Sans" in fonts(rendered["fr"])
    assert "CJK" not in fonts(rendered["fr"])


def test_a_seller_name_with_html_in_it_prints_as_text(tmp_path):
    hostile = '<script>alert(1)</script><img src="http://127.0.0.1:9/x.png">Shop & "Co"'
    advice = sample_advice("en", seller_name=hostile)
    html = render_html(advice)
    assert "<script>" not in html and "<img src=" not in html
    assert "&lt;script&gt;" in html
    path = tmp_path / "hostile.pdf"
    path.write_bytes(render_pdf(advice))
    assert hostile in words(pdf_text(path))


def test_the_renderer_may_fetch_nothing():
    with pytest.raises(FetchRefused):
        refuse_fetch("http://127.0.0.1:9/x.png")
    with pytest.raises(FetchRefused):
        refuse_fetch("file:///etc/passwd")


def test_only_a_paid_payout_gets_an_advice():
    history, payout_id = sample_history()
    pending = history.pay_out(500, paid=False)  # the €5 left for later
    with pytest.raises(PayoutNotPaid):
        remittance_advice(
            history.payouts[pending],
            history.contents()[pending],
            sample_seller(),
            timezone="Europe/Paris",
            marketplace_name=MARKETPLACE,
        )
    assert history.payouts[payout_id].status is PayoutStatus.PAID


def test_numbers_follow_the_language_as_spoken_in_the_sellers_country():
    from shared.domain.remittance import advice_locale

    assert advice_locale("fr", "BE") == "fr_BE"
    assert advice_locale("de", "DE") == "de_DE"
    assert advice_locale("en", "FR") == "en"  # English conventions, not en_FR's


@pytest.mark.parametrize(
    ("requested", "country", "expected"),
    [
        ("fr-BE", "BE", "fr"),
        ("ja_JP", "JP", "ja"),
        (None, "DE", "de"),
        ("nl", "NL", "en"),
        (None, "US", "en"),
    ],
)
def test_the_advice_is_in_the_sellers_language_or_its_countrys(requested, country, expected):
    assert advice_language(requested, country) == expected


def test_every_language_labels_every_kind_and_reason():
    for language in SUPPORTED_LANGUAGES:
        t = labels()[language]
        assert set(t["kinds"]) == {kind.value for kind in ContentKind}, language
        assert set(t["reasons"]) == {reason.value for reason in LeftReason}, language
        assert set(t) == set(labels()["en"]), language
