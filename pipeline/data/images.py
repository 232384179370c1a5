"""One image file as a model sees it, the way phones and cameras write them: turned upright by its EXIF
orientation, transparent pixels composited over a background (not dropped), 16-bit pixels scaled to 0..255
(not saturated), then made grayscale or RGB and resized. An image past the pixel limit is refused before its
pixels are decoded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_MAX_PIXELS = (
    2 * 89_478_485
)  # where Pillow itself refuses an image (DecompressionBombError): a 108 MP photo passes
SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}  # Pillow opens 16-bit PNG, TIFF and PGM in these modes
WITH_ALPHA = {"RGBA", "RGBa", "LA", "La", "PA"}


@dataclass(frozen=True)
class DecodeOptions:
    """How every image of a source is decoded (sent to the decoding processes: the pixel limit travels with it)."""

    image_size: tuple[int, int] | None = None  # (height, width) to resize to
    grayscale: bool = False
    background: tuple[int, int, int] = (255, 255, 255)  # what transparent pixels are composited over
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # None: no limit


class ImageTooLarge(ValueError):
    """An image with more pixels than DecodeOptions.max_pixels (its message is the reason, for one line)."""


def read_image(file: Path, options: DecodeOptions) -> np.ndarray:
    """One image as uint8 (H, W, C), C 1 (grayscale) or 3; OSError-like failures and ImageTooLarge raise."""
    from PIL import Image, ImageOps

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # the limit is checked below, against the data's own setting
    try:
        with Image.open(file) as img:
            pixels = img.width * img.height
            if options.max_pixels is not None and pixels > options.max_pixels:
                raise ImageTooLarge(
                    f"{img.width}x{img.height} = {pixels:,} pixels, over data.max_image_pixels ({options.max_pixels:,})"
                )
            try:
                ImageOps.exif_transpose(img, in_place=True)
            except Exception:  # a malformed orientation tag: the pixels as stored, not a lost image
                pass
            img = _colour(img, options.grayscale, options.background)
            size = options.image_size
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    return arr[..., None] if options.grayscale else arr


def _colour(img, grayscale: bool, background: tuple[int, int, int]):
    """The image in mode L (grayscale) or RGB: 16-bit scaled, alpha composited over `background`."""
    from PIL import Image

    if img.mode in SIXTEEN_BIT:
        img = Image.fromarray(sixteen_to_eight(np.asarray(img)), "L")
    if img.mode in WITH_ALPHA or "transparency" in img.info:
        over = Image.new("RGBA", img.size, (*background, 255))
        img = Image.alpha_composite(over, img.convert("RGBA")).convert("RGB")
    return img.convert("L" if grayscale else "RGB")


def sixteen_to_eight(values: np.ndarray) -> np.ndarray:
    """16-bit pixel values 0..65535 as 0..255, rounded (v / 257): 65535 -> 255, 32896 -> 128."""
    wide = np.clip(values, 0, 65535).astype(np.uint32)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)
