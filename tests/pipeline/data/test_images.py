"""Images as phones and cameras write them: turned upright by their EXIF orientation, transparency composited over
data.background, 16-bit pixels scaled (not saturated), the channels the data asks for, and an image past
data.max_image_pixels refused in one line naming it (or skipped and listed)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgedistill.errors import DataError
from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.data.images import DecodeOptions, ImageTooLarge, read_image

# EXIF orientation -> how a camera stores an upright picture under it (Pillow's transpose of the upright one)
STORED = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def upright(h=16, w=24, top=230, bottom=20) -> np.ndarray:
    """A picture whose top half is bright and bottom half dark: upside down or sideways, it is plain to see."""
    pixels = np.full((h, w, 3), bottom, np.uint8)
    pixels[: h // 2] = top
    return pixels


def save_as_camera(path, pixels: np.ndarray, orientation: int) -> None:
    """A JPEG stored the way the sensor saw it, with the EXIF orientation tag that says how to turn it upright."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).transpose(STORED[orientation]).save(path, "JPEG", quality=95, exif=exif)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_jpeg_with_an_exif_orientation_is_decoded_upright(tmp_path, orientation):
    path = tmp_path / "photo.jpg"
    save_as_camera(path, upright(), orientation)
    with Image.open(path) as raw:
        assert raw.getexif()[0x0112] == orientation and raw.size == ((24, 16) if orientation == 3 else (16, 24))
    decoded = read_image(path, DecodeOptions())
    assert decoded.shape == (16, 24, 3)
    np.testing.assert_allclose(decoded, upright(), atol=12)  # JPEG is lossy, the halves are 210 apart


def test_a_folder_where_every_other_photo_is_tagged_decodes_every_one_upright(tmp_path):
    """The measured case: half the photos carry an orientation tag; read raw, half the store was sideways."""
    for c, name in enumerate(("bright_top", "dark_top")):
        (tmp_path / name).mkdir()
        picture = upright() if c == 0 else upright(top=20, bottom=230)
        for i in range(10):
            if i % 2:
                save_as_camera(tmp_path / name / f"{i}.jpg", picture, 6)
            else:
                Image.fromarray(picture).save(tmp_path / name / f"{i}.jpg", "JPEG", quality=95)
    data = load_data(DataConfig(image_folder=tmp_path, workers=0), tmp_path / ".cache")
    x = np.concatenate([data.train.x, data.val.x, data.test.x])
    y = np.concatenate([data.train.y, data.val.y, data.test.y])
    assert x.shape == (20, 16, 24, 3)
    top_brighter = x[:, :8].mean(axis=(1, 2, 3)) > x[:, 8:].mean(axis=(1, 2, 3))
    assert (top_brighter == (y == 0)).all()


def test_transparent_pixels_are_composited_over_the_background_not_dropped(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)  # fully transparent black
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (0, 0, 255, 128)  # half-transparent blue
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    white = read_image(tmp_path / "logo.png", DecodeOptions())
    assert white[0, 0].tolist() == [255, 0, 0] and white[1, 2].tolist() == [255, 255, 255]
    np.testing.assert_allclose(white[0, 1], [127, 127, 255], atol=1)
    green = read_image(tmp_path / "logo.png", DecodeOptions(background=(0, 255, 0)))
    assert green[1, 2].tolist() == [0, 255, 0] and green[0, 0].tolist() == [255, 0, 0]
    gray = read_image(tmp_path / "logo.png", DecodeOptions(grayscale=True))
    assert gray.shape == (2, 3, 1) and gray[1, 2, 0] == 255


def test_a_palette_image_with_a_transparent_index_and_a_gray_alpha_image_get_the_background(tmp_path):
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "p.png", transparency=0)  # index 0 transparent
    assert read_image(tmp_path / "p.png", DecodeOptions()).tolist() == [[[255, 255, 255], [200, 10, 10]]]
    Image.fromarray(np.array([[[40, 0], [40, 255]]], np.uint8), "LA").save(tmp_path / "la.png")
    assert read_image(tmp_path / "la.png", DecodeOptions(grayscale=True))[..., 0].tolist() == [[255, 40]]
    assert read_image(tmp_path / "la.png", DecodeOptions()).tolist() == [[[255] * 3, [40] * 3]]


def test_a_16_bit_png_is_scaled_to_0_255_not_saturated(tmp_path):
    values = np.array([[0, 257, 1000, 32896, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "depth.png")
    with Image.open(tmp_path / "depth.png") as raw:
        assert raw.mode == "I;16"  # Pillow's own convert("L") would make every value past 255 white
    gray = read_image(tmp_path / "depth.png", DecodeOptions(grayscale=True))
    assert gray.shape == (1, 5, 1) and gray[..., 0].tolist() == [[0, 1, 4, 128, 255]]
    rgb = read_image(tmp_path / "depth.png", DecodeOptions())
    assert rgb.shape == (1, 5, 3) and rgb[0, :, 0].tolist() == rgb[0, :, 2].tolist() == [0, 1, 4, 128, 255]


def test_16_bit_gray_images_fill_a_grayscale_store_with_one_channel(tmp_path):
    for c, level in enumerate((8000, 50000)):
        (tmp_path / f"c{c}").mkdir()
        for i in range(6):
            Image.fromarray(np.full((5, 4), level + i, np.uint16)).save(tmp_path / f"c{c}" / f"{i}.png")
    data = load_data(DataConfig(image_folder=tmp_path, grayscale=True, workers=0), tmp_path / ".cache")
    assert data.image_shape == (5, 4, 1)
    x, y = np.concatenate([data.train.x, data.test.x]), np.concatenate([data.train.y, data.test.y])
    assert set(np.unique(x[y == 0])) == {31} and set(np.unique(x[y == 1])) == {195}  # 8000/257, 50000/257


def test_an_image_past_the_pixel_limit_is_one_line_naming_it_or_skipped_and_listed(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(np.full((10, 10, 3), 30 * i, np.uint8)).save(tmp_path / "photos" / name / f"{i}.png")
    big = tmp_path / "photos" / "dog" / "5.png"
    Image.fromarray(np.zeros((100, 120, 3), np.uint8)).save(big)
    photos = tmp_path / "photos"
    limited = {"image_folder": photos, "max_image_pixels": 5000, "image_size": (10, 10)}
    with pytest.raises(DataError) as info:  # decoded by a worker process: the limit travels with the task
        load_data(DataConfig(**limited, workers=2), tmp_path / "cache")
    message = str(info.value)
    assert message.startswith(f"{big}: image too large: 120x100 = 12,000 pixels, over data.max_image_pixels (5,000)")
    assert "\n" not in message
    data = load_data(DataConfig(**limited, workers=2, skip_bad_images=True), tmp_path / "cache")
    assert data.labelled_rows == 15 and data.skipped_images == [
        f"{big}: too large: 120x100 = 12,000 pixels, over data.max_image_pixels (5,000)"
    ]
    assert (
        load_data(DataConfig(image_folder=photos, image_size=(10, 10), workers=0), tmp_path / "cache").labelled_rows
        == 16
    )


def test_the_data_limit_decides_not_pillows_own_global(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # a process that lowered Pillow's limit for its own reasons
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png", DecodeOptions()).shape == (20, 30, 3)
    assert Image.MAX_IMAGE_PIXELS == 100  # and left as it was
    with pytest.raises(ImageTooLarge, match="20 = 600 pixels, over data.max_image_pixels \\(599\\)"):
        read_image(tmp_path / "a.png", DecodeOptions(max_pixels=599))
    assert read_image(tmp_path / "a.png", DecodeOptions(max_pixels=None)).shape == (20, 30, 3)
