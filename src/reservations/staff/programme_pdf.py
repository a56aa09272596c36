"""The printable programme as a PDF (A4, fpdf2), from the same ``Sheet`` as the HTML print view.

fpdf2's built-in fonts only know latin-1: no “œ”, no typographic apostrophe, no narrow no-break
space that French prices use. The text is set in DejaVu Sans Condensed, shipped with the
package (``static/fonts``, a Latin subset, with its licence), so the PDF is the same on any
machine that has installed the package, whatever fonts the system has.
"""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from reservations.staff.programme_sheet import Sheet, SheetDay, SheetEntry
from reservations.web.static import STATIC_DIR

FONT = "DejaVuSansCondensed"
FONT_FILES = {
    "": STATIC_DIR / "fonts" / "DejaVuSansCondensed.ttf",
    "B": STATIC_DIR / "fonts" / "DejaVuSansCondensed-Bold.ttf",
}
MARGIN = 14  # mm
TIME_WIDTH = 26  # mm, the column of the times
TITLE_LINE = 5  # mm, the height of a line of a visit's title (10 points)
LINE = 4.6  # mm, the height of a line of 9-point text
BRAND = (11, 93, 59)  # the site's green
MUTED = (74, 74, 74)
RULE = (201, 207, 196)
STATE_CANCELLED = (176, 0, 32)  # the site's error red (#b00020)


class _ProgrammePdf(FPDF):
    def __init__(self, sheet: Sheet) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.sheet = sheet
        for style, path in FONT_FILES.items():
            self.add_font(FONT, style, str(path))
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN + 4)
        self.set_title(f"{sheet.title} — {sheet.sector} — {sheet.period}")
        self.set_author("Office de tourisme")
        self.set_lang("fr")
        self.alias_nb_pages()

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font(FONT, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"{self.sheet.title} · {self.sheet.sector} · {self.sheet.period}")
        self.ln(8)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.set_font(FONT, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"Page {self.page_no()} / {{nb}}", align=Align.C)
        self.set_text_color(0, 0, 0)


def render_pdf(sheet: Sheet, *, compress: bool = True) -> bytes:
    """The sheet as PDF bytes (``compress=False`` leaves the page contents readable)."""
    pdf = _ProgrammePdf(sheet)
    pdf.set_compression(compress)
    pdf.add_page()
    _title(pdf, sheet)
    if not sheet.days:
        pdf.set_font(FONT, "", 10)
        _paragraph(pdf, pdf.epw, LINE, sheet.empty_text, new_x=XPos.LMARGIN)
    for day in sheet.days:
        _day(pdf, day)
    return bytes(pdf.output())


def _paragraph(
    pdf: FPDF, width: float, height: float, text: str, *, new_x: XPos = XPos.LEFT, link: str = ""
) -> None:
    """Left-aligned lines of ``text``; then the next line, at ``new_x``."""
    pdf.multi_cell(
        width, height, text, align=Align.L, new_x=new_x, new_y=YPos.NEXT, link=link or None
    )


def _title(pdf: FPDF, sheet: Sheet) -> None:
    pdf.set_text_color(*BRAND)
    pdf.set_font(FONT, "B", 18)
    _paragraph(pdf, pdf.epw, 8, sheet.title, new_x=XPos.LMARGIN)
    pdf.set_font(FONT, "B", 13)
    _paragraph(pdf, pdf.epw, 7, f"{sheet.sector} — {sheet.period}", new_x=XPos.LMARGIN)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(1)
    pdf.set_font(FONT, "", 9.5)
    _paragraph(pdf, pdf.epw, LINE, sheet.booking, new_x=XPos.LMARGIN)
    pdf.ln(2)


def _rule(pdf: FPDF, colour: tuple[int, int, int]) -> None:
    pdf.set_draw_color(*colour)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())


def _day(pdf: FPDF, day: SheetDay) -> None:
    first = day.entries[0]
    # The day's heading never ends a page: it goes with its first visit.
    if pdf.will_page_break(12 + _height(pdf, first)):
        pdf.add_page()
    pdf.ln(2)
    pdf.set_font(FONT, "B", 12)
    pdf.set_text_color(*BRAND)
    pdf.cell(0, 7, day.heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _rule(pdf, BRAND)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(1.5)
    for entry in day.entries:
        if pdf.will_page_break(_height(pdf, entry)):  # an entry is never cut across two pages
            pdf.add_page()
        _entry(pdf, entry)


def _details(entry: SheetEntry) -> list[str]:
    """The entry's lines under its title, in 9 points; the last one is the booking link, or
    what the visit is instead ("Complet", "Annulée")."""
    last = entry.state or f"{entry.book} {entry.booking_url}"
    lines = [entry.what, entry.meeting, entry.terms, last]
    return [line for line in lines if line]


def _height(pdf: FPDF, entry: SheetEntry) -> float:
    """How tall the entry will be, measured without writing it."""
    width = pdf.epw - TIME_WIDTH

    def measure(text: str, line_height: float) -> float:
        return float(pdf.multi_cell(width, line_height, text, dry_run=True, output="HEIGHT"))

    pdf.set_font(FONT, "B", 10)
    height = measure(entry.title, TITLE_LINE)
    pdf.set_font(FONT, "", 9)
    return height + sum(measure(line, LINE) for line in _details(entry)) + 3


def _entry(pdf: FPDF, entry: SheetEntry) -> None:
    top, width = pdf.get_y(), pdf.epw - TIME_WIDTH
    pdf.set_font(FONT, "B", 10)
    pdf.cell(TIME_WIDTH, TITLE_LINE, entry.time)
    pdf.set_xy(pdf.l_margin + TIME_WIDTH, top)
    _paragraph(pdf, width, TITLE_LINE, entry.title)
    pdf.set_font(FONT, "", 9)
    *details, last = _details(entry)
    for line in details:
        _paragraph(pdf, width, LINE, line)
    if entry.state:  # no link to book: the visit is full or cancelled, in bold
        pdf.set_font(FONT, "B", 9)
        pdf.set_text_color(*(STATE_CANCELLED if entry.cancelled else MUTED))
        _paragraph(pdf, width, LINE, last)
    else:
        pdf.set_text_color(*BRAND)
        _paragraph(pdf, width, LINE, last, link=entry.booking_url or "")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(1.5)
    _rule(pdf, RULE)
    pdf.ln(1.5)
