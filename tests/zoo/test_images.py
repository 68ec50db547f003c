"""Sample grids: layout and the enlargement that keeps small images visible."""

import torch
from PIL import Image

from zoo.images import grid, save_grid


def test_rows_of_videos_or_images_make_one_grid():
    assert grid(torch.rand(3, 4, 1, 8, 8)).shape == (3, 3 * 10 + 2, 4 * 10 + 2)  # 3 rows of 4, padding 2
    assert grid(torch.rand(4, 3, 8, 8)).shape == (3, 2 * 10 + 2, 2 * 10 + 2)


def test_small_grids_are_enlarged_to_at_least_256_pixels(tmp_path):
    samples = torch.rand(4, 9, 1, 16, 16)  # a 164 px wide grid of 16x16 digits
    width = grid(samples).shape[-1]
    image = Image.open(save_grid(samples, tmp_path / "g.png"))
    assert width < 256 <= image.size[0] and image.size[0] % width == 0 and image.size[0] < 2 * 256 + width
    big = torch.rand(1, 1, 3, 300, 300)
    assert Image.open(save_grid(big, tmp_path / "b.png")).size[0] == grid(big).shape[-1]
