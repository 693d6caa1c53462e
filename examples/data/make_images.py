"""Draw the tiny example images referenced by ``mulberry_rl.jsonl`` (``images/qNN.png``).

Each image is 64x64, drawn with Pillow from simple shapes, deterministic, a few hundred bytes.
Run from anywhere: ``python examples/data/make_images.py`` (needs ``pillow``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SIZE = 64
BLACK, RED, BLUE, GREEN, GREY, ORANGE = (0, 0, 0), (220, 40, 40), (40, 80, 220), (40, 160, 60), (150, 150, 150), (240, 150, 30)

Drawer = Callable[[ImageDraw.ImageDraw], None]


def right_triangle(d: ImageDraw.ImageDraw) -> None:  # legs 6 and 8 (q01)
    d.polygon([(10, 54), (10, 14), (58, 54)], outline=BLACK)
    d.rectangle([10, 48, 16, 54], outline=BLACK)


def marbles(d: ImageDraw.ImageDraw) -> None:  # 3 red, 5 blue (q02)
    for i in range(3):
        d.ellipse([6 + 18 * i, 10, 18 + 18 * i, 22], fill=RED)
    for i in range(5):
        d.ellipse([2 + 12 * i, 38, 12 + 12 * i, 48], fill=BLUE)


def bars(values: list[int], color: tuple[int, int, int]) -> Drawer:  # bar charts (q03, q11)
    def draw(d: ImageDraw.ImageDraw) -> None:
        top = max(values)
        width = (SIZE - 8) // len(values)
        for i, v in enumerate(values):
            h = int(50 * v / top)
            d.rectangle([6 + i * width, 58 - h, 6 + i * width + width - 4, 58], fill=color)
        d.line([(4, 58), (60, 58)], fill=BLACK)

    return draw


def rectangle_2x4(d: ImageDraw.ImageDraw) -> None:  # 2 by 4 (q04)
    d.rectangle([8, 22, 56, 46], outline=BLACK, width=2)


def triangle_345(d: ImageDraw.ImageDraw) -> None:  # 3-4-5 triangle (q05)
    d.polygon([(8, 52), (8, 16), (56, 52)], outline=BLUE)
    d.rectangle([8, 46, 14, 52], outline=BLUE)


def pizza(d: ImageDraw.ImageDraw) -> None:  # 8 slices, 3 eaten (q06)
    d.ellipse([6, 6, 58, 58], fill=ORANGE, outline=BLACK)
    for k in range(3):
        d.pieslice([6, 6, 58, 58], 45 * k, 45 * (k + 1), fill=(255, 255, 255), outline=BLACK)
    for k in range(8):
        d.pieslice([6, 6, 58, 58], 45 * k, 45 * (k + 1), outline=BLACK)


def price_tag(d: ImageDraw.ImageDraw) -> None:  # $40, 25% off (q07)
    d.polygon([(8, 20), (44, 20), (58, 32), (44, 44), (8, 44)], outline=GREEN)
    d.text((12, 26), "$40", fill=BLACK)


def triangle_angles(d: ImageDraw.ImageDraw) -> None:  # angles 50 and 60 degrees (q09)
    d.polygon([(6, 54), (58, 54), (26, 12)], outline=BLACK)
    d.arc([0, 48, 12, 60], 300, 360, fill=RED)
    d.arc([52, 48, 64, 60], 180, 240, fill=RED)


def pie(d: ImageDraw.ImageDraw) -> None:  # 40% / 35% / 25% (q10)
    start = 0.0
    for share, color in ((0.40, RED), (0.35, BLUE), (0.25, GREEN)):
        d.pieslice([6, 6, 58, 58], start, start + 360 * share, fill=color)
        start += 360 * share


def circles_squares(d: ImageDraw.ImageDraw) -> None:  # 4 circles, 6 squares (q12)
    for i in range(4):
        d.ellipse([4 + 15 * i, 8, 14 + 15 * i, 18], fill=RED)
    for i in range(6):
        d.rectangle([3 + 10 * i, 40, 10 + 10 * i, 47], fill=GREY)


DRAWERS: dict[str, Drawer] = {
    "q01": right_triangle,
    "q02": marbles,
    "q03": bars([12, 18, 9], BLUE),
    "q04": rectangle_2x4,
    "q05": triangle_345,
    "q06": pizza,
    "q07": price_tag,
    "q09": triangle_angles,
    "q10": pie,
    "q11": bars([70, 80, 90], GREEN),
    "q12": circles_squares,
}


def draw(name: str) -> Image.Image:
    """The image for question ``name`` (``"q01"`` ...)."""
    img = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    DRAWERS[name](ImageDraw.Draw(img))
    return img.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)


def main() -> None:
    (HERE / "images").mkdir(exist_ok=True)
    wanted = set()
    for line in (HERE / "mulberry_rl.jsonl").read_text(encoding="utf-8").splitlines():
        path = json.loads(line).get("image_path")
        if path:
            wanted.add(path)
    for path in sorted(wanted):
        name = Path(path).stem
        draw(name).save(HERE / path, optimize=True)
        print(f"wrote {path} ({(HERE / path).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
