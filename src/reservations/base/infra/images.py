"""Pictures as they are uploaded, checked and made ready for the web (Pillow only, no database).

An upload is trusted for nothing: its type is what Pillow finds in its bytes (JPEG, PNG or WebP
only; neither its name nor its Content-Type is read), its size and dimensions are bounded, and
its dimensions are read from its header before a single pixel is decoded, so a small file that
claims a huge image (a decompression bomb) is refused without being decoded. A file Pillow
cannot decode to the end is refused as damaged, never a crash.

What is kept is made again from the pixels only: turned upright as its EXIF orientation says
(``ImageOps.exif_transpose``), put in sRGB-like RGB on white (transparency flattened), resized
to a few widths (never larger than the original) and encoded twice, WebP for the browsers of
today and JPEG for the others, at quality 80. Nothing of the original file's metadata (EXIF
with its GPS position, ICC, XMP, comments) survives: the new images are built from bare pixels.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from reservations.base.errors import N_, DomainError

#: What a browser shows and a camera or phone makes; anything else is refused.
OPENED_FORMATS = ("JPEG", "PNG", "WEBP")
#: MPO is how Pillow names the multi-picture JPEGs of many phones and cameras, which its JPEG
#: reader opens (their first picture is used).
ACCEPTED_FORMATS = (*OPENED_FORMATS, "MPO")
#: JPEGs are decoded at a reduced scale (``draft``); the others whole, so fewer of their pixels
#: are taken: a small PNG of 8000 × 8000 would take a gigabyte of memory to decode.
JPEG_FORMATS = ("JPEG", "MPO")
MAX_DECODED_PIXELS = 24_000_000
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MIN_WIDTH = 320
MAX_SIDE = 8000
#: More pixels than this is refused before decoding (8000 × 8000 is 64 megapixels).
MAX_PIXELS = MAX_SIDE * MAX_SIDE
#: The widths made for ``srcset`` (a picture narrower than the largest gets its own width too).
WIDTHS = (320, 640, 1024)
QUALITY = 80
#: Rendition formats: the file extension in addresses, and the Content-Type served.
FORMATS = {"webp": "image/webp", "jpg": "image/jpeg"}
ORIENTATION = 0x0112  # the EXIF tag

# Pillow's own guard, for any code path that would open an image without ours first.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False


class PictureRefused(DomainError):
    """Why an uploaded file is not taken as a picture (the form shows it beside the file)."""

    code = "picture_refused"
    title = N_("Picture refused")


class NotAPicture(PictureRefused):
    code = "not_a_picture"
    message = N_("This file is not a picture we can use. Send a photo in JPEG, PNG or WebP format.")


class PictureDamaged(PictureRefused):
    code = "picture_damaged"
    message = N_(
        "This picture seems damaged or incomplete and cannot be read. Export it again from "
        "your phone or photo program, then send it."
    )


class PictureFileTooLarge(PictureRefused):
    code = "picture_file_too_large"
    message = N_(
        "This file is too large: at most {maximum} MB. Send a smaller version of the photo "
        "(the site makes its own sizes from it)."
    )

    def __init__(self, field: str | None = None) -> None:
        super().__init__(field, maximum=MAX_UPLOAD_BYTES // (1024 * 1024))


class PictureTooSmall(PictureRefused):
    code = "picture_too_small"
    message = N_(
        "This picture is too small: {width} pixels wide, at least {minimum} are needed to "
        "look sharp on a phone."
    )


class PictureTooManyPixels(PictureRefused):
    """A file that claims far more pixels than any photo (a "decompression bomb")."""

    code = "picture_too_many_pixels"
    message = N_(
        "This picture has far too many pixels to be used (at most {maximum} on each side). "
        "Send a smaller version of it."
    )


class PictureTooManyPixelsToDecode(PictureRefused):
    code = "picture_too_many_pixels_to_decode"
    message = N_(
        "This PNG or WebP picture is too big: {width} × {height} pixels, at most {megapixels} "
        "million. Send it as a JPEG photo, or a smaller version of it."
    )


class PictureTooBig(PictureRefused):
    code = "picture_too_big"
    message = N_(
        "This picture is too big: {width} × {height} pixels, at most {maximum} on each side. "
        "Send a smaller version of it."
    )


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    #: "webp" or "jpg" (``FORMATS``).
    format: str
    data: bytes


@dataclass(frozen=True)
class Prepared:
    """An upload made ready: its upright size, the SHA-256 of the file sent, its renditions."""

    width: int
    height: int
    content_hash: str
    renditions: tuple[Rendition, ...]


def rendition_widths(width: int) -> tuple[int, ...]:
    """The widths made of a picture ``width`` pixels wide: those of ``WIDTHS`` below it, and
    its own (or the largest of ``WIDTHS``): never an enlargement."""
    largest = min(width, WIDTHS[-1])
    return tuple(sorted({w for w in WIDTHS if w < largest} | {largest}))


def height_at(width: int, original_width: int, original_height: int) -> int:
    return max(1, round(original_height * width / original_width))


def _opened(data: bytes) -> Image.Image:
    """The picture in ``data``, its header read, no pixel decoded yet."""
    with warnings.catch_warnings():
        # Between once and twice Pillow's limit it only warns: our own check, with the size
        # read, refuses it next. Beyond, Pillow refuses it before we can read the size.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=OPENED_FORMATS)
        except Image.DecompressionBombError as exc:
            raise PictureTooManyPixels(field="file", maximum=MAX_SIDE) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise NotAPicture(field="file") from exc
    if image.format not in ACCEPTED_FORMATS:
        raise NotAPicture(field="file")
    return image


def _pixels(image: Image.Image) -> Image.Image:
    """The decoded picture, upright, in RGB (transparent parts on white)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        if image.format in JPEG_FORMATS:
            # Decode at a reduced scale when the largest rendition allows it: much less work.
            image.draft("RGB", (WIDTHS[-1] * 2, WIDTHS[-1] * 2))
        image.load()
        upright = ImageOps.exif_transpose(image)
    if upright.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit PNGs: to 8 bits
        upright = upright.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    ):
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return upright.convert("RGB")


def _bare(image: Image.Image) -> Image.Image:
    """The same pixels in a new image that carries nothing else (no info, no EXIF)."""
    return Image.frombytes("RGB", image.size, image.tobytes())


def _encoded(image: Image.Image, extension: str) -> bytes:
    out = io.BytesIO()
    if extension == "webp":
        image.save(out, "WEBP", quality=QUALITY, method=4)
    else:
        image.save(out, "JPEG", quality=QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def prepare(data: bytes) -> Prepared:
    """Check an uploaded file and make its renditions, or refuse it (a ``PictureRefused``).
    CPU-heavy (a second or so for a large photo): run it in a worker thread."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PictureFileTooLarge(field="file")
    if not data:
        raise NotAPicture(field="file")
    image = _opened(data)
    width, height = image.size
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise PictureTooBig(field="file", width=width, height=height, maximum=MAX_SIDE)
    if image.format not in JPEG_FORMATS and width * height > MAX_DECODED_PIXELS:
        raise PictureTooManyPixelsToDecode(
            field="file", width=width, height=height, megapixels=MAX_DECODED_PIXELS // 1_000_000
        )
    try:
        # EXIF orientations 5 to 8 turn the picture a quarter: its width is its height.
        turned = image.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8)
        upright = _pixels(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PictureTooManyPixels(field="file", maximum=MAX_SIDE) from exc
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        raise PictureDamaged(field="file") from exc
    finally:
        image.close()
    if turned:
        width, height = height, width
    if width < MIN_WIDTH:
        raise PictureTooSmall(field="file", width=width, minimum=MIN_WIDTH)
    renditions = []
    for target in rendition_widths(width):
        size = (target, height_at(target, width, height))
        resized = _bare(
            upright if upright.size == size else upright.resize(size, Image.Resampling.LANCZOS)
        )
        for extension in FORMATS:
            renditions.append(Rendition(size[0], size[1], extension, _encoded(resized, extension)))
    return Prepared(width, height, hashlib.sha256(data).hexdigest(), tuple(renditions))
