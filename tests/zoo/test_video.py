"""Reading the user's videos and writing GIF/MP4/PNG."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from zoo.errors import InputError, MissingDependencyError, ZooError
from zoo.video import load_video, mp4_encoder, read_video, save_strip, strip, write_gif, write_mp4


def _frames(t=5, size=16):
    x = torch.zeros(t, 1, size, size)
    for i in range(t):
        x[i, 0, i : i + 4, 2 : 6] = 1.0  # a square moving down
        x[i, 0, -1, -1] = i / 20
    return x


def _save_png(x: torch.Tensor, path):
    Image.fromarray((x[0] * 255).round().byte().numpy(), mode="L").save(path)


def test_gif_round_trip(tmp_path):
    video = _frames()
    path = write_gif(video, tmp_path / "v.gif", scale=1)
    back = read_video(path, channels=1)
    assert back.shape == video.shape
    assert torch.allclose(back, video, atol=1 / 255 + 1e-6)
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"


def test_folder_of_frames_in_natural_order(tmp_path):
    video = _frames(t=12)
    for i, frame in enumerate(video):
        _save_png(frame, tmp_path / f"frame{i}.png")  # frame10 must come after frame9
    back = read_video(tmp_path, channels=1)
    assert torch.allclose(back, video, atol=1 / 255 + 1e-6)
    rgb = read_video(tmp_path, channels=3)
    assert rgb.shape == (12, 3, 16, 16) and torch.allclose(rgb[:, 0], rgb[:, 2])


def test_frames_of_different_sizes_are_refused(tmp_path):
    _save_png(torch.zeros(1, 16, 16), tmp_path / "a.png")
    _save_png(torch.zeros(1, 8, 8), tmp_path / "b.png")
    with pytest.raises(InputError, match="differ in size"):
        read_video(tmp_path)


def test_clear_errors_for_bad_videos(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_video(tmp_path / "nope.gif")
    (tmp_path / "broken.gif").write_bytes(b"GIF89a not really")
    with pytest.raises(InputError, match="cannot read"):
        read_video(tmp_path / "broken.gif")
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 64)
    with pytest.raises(ZooError):  # no decoder installed, or one that cannot read it
        read_video(tmp_path / "clip.mp4")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(InputError, match="not a video"):
        read_video(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no frame images"):
        read_video(tmp_path / "empty")


def test_load_video_checks_length_and_size(tmp_path):
    path = write_gif(_frames(t=4, size=16), tmp_path / "v.gif", scale=1)
    with pytest.raises(InputError, match="at least 5"):
        load_video(path, size=16, channels=1, min_frames=5)
    with pytest.raises(InputError, match="16x16, the model takes 32x32"):
        load_video(path, size=32, channels=1)
    resized = load_video(path, size=32, channels=1, resize=True)
    assert resized.shape == (4, 1, 32, 32) and 0 <= resized.min() and resized.max() <= 1


def test_strip_and_mp4(tmp_path):
    videos = torch.rand(3, 4, 1, 8, 8)
    image = strip(videos, padding=2, mark=2)
    assert image.shape == (3, 3 * 8 + 4 * 2, 4 * 8 + 5 * 2)
    assert image[0, 0, 0] == pytest.approx(0.6) and image[0, 0, -1] == 1.0  # conditioning columns marked
    assert save_strip(videos, tmp_path / "s.png").is_file()
    if mp4_encoder() is None:
        with pytest.raises(MissingDependencyError, match="imageio"):
            write_mp4(videos, tmp_path / "v.mp4")
        assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*"))
    else:
        assert write_mp4(videos, tmp_path / "v.mp4").stat().st_size > 0
