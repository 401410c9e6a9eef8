import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_images
from training.data import DatasetError, decode_image, load_images


def test_folder_is_read_recursively_in_all_formats(tmp_path: Path) -> None:
    write_images(tmp_path / "a", 3, suffix=".png")
    write_images(tmp_path / "a" / "deeper", 2, suffix=".jpg", seed=1)
    write_images(tmp_path / "b", 2, suffix=".webp", seed=2)
    (tmp_path / "notes.txt").write_text("not an image")
    data = load_images(tmp_path, 32, progress=False)
    assert data.images.shape == (7, 3, 32, 32) and data.images.dtype.is_floating_point is False
    assert data.files_found == 7 and not data.skipped


def test_zip_and_tar_archives(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "imgs", 4)
    with zipfile.ZipFile(tmp_path / "set.zip", "w") as z:
        for f in sorted(folder.iterdir()):
            z.write(f, f"faces/{f.name}")
        z.writestr("__MACOSX/faces/._img-000.png", b"junk")
    with tarfile.open(tmp_path / "set.tar", "w") as t:
        t.add(folder, arcname="faces")
    from_zip = load_images(tmp_path / "set.zip", 64, progress=False)
    from_tar = load_images(tmp_path / "set.tar", 64, progress=False)
    from_dir = load_images(folder, 64, progress=False)
    assert len(from_zip) == len(from_tar) == 4
    assert (from_zip.images == from_dir.images).all() and (from_tar.images == from_dir.images).all()


def test_undecodable_and_empty_files_are_skipped_and_counted(tmp_path: Path) -> None:
    write_images(tmp_path, 3)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "empty.jpg").write_bytes(b"")
    data = load_images(tmp_path, 64, progress=False)
    assert len(data) == 3 and data.files_found == 5
    assert sorted(data.skipped) == ["broken.png", "empty.jpg"]


def test_non_square_images_are_centre_cropped() -> None:
    image = np.zeros((40, 80, 3), dtype=np.uint8)
    image[:, 20:60] = 255  # the centre 40x40 square is white
    import io

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    out = decode_image(buffer.getvalue(), 16)
    assert out is not None and out.shape == (16, 16, 3) and out.min() > 240


def test_missing_path_and_empty_sets_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nowhere: no such file or folder"):
        load_images(tmp_path / "nowhere", 64)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: no usable images \(no "):
        load_images(tmp_path / "empty", 64)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    with pytest.raises(DatasetError, match=r"bad: no usable images \(1 image files, none decodable\)"):
        load_images(tmp_path / "bad", 64)
    (tmp_path / "file.bin").write_bytes(b"abc")
    with pytest.raises(DatasetError, match="not a folder, .zip or .tar"):
        load_images(tmp_path / "file.bin", 64)
