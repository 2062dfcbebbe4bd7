"""FER2013 loading: every form people have it in, and every way it can be wrong."""

from __future__ import annotations

import csv
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.contract import FER2013_CLASSES
from train.dataset import DatasetError, LoadOptions, load_dataset

rng = np.random.default_rng(0)


def face(size: int = 48) -> np.ndarray:
    return rng.integers(0, 256, (size, size), dtype=np.uint8)


def write_tree(root: Path, classes=("happy", "sad", "angry"), per_class=3, ext=".png") -> Path:
    for cls in classes:
        for split, prefix in (("train", "Training"), ("test", "PublicTest"), ("test", "PrivateTest")):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                cv2.imwrite(str(folder / f"{prefix}_{cls}{i}{ext}"), face())
    return root


def write_csv(path: Path, rows: list[tuple[int, str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["emotion", "pixels", "Usage"])
        writer.writerows(rows)
    return path


def pixels(n: int = 48 * 48) -> str:
    return " ".join(str(v) for v in rng.integers(0, 256, n))


def load(path: Path, tmp_path: Path, **options: bool):
    return load_dataset(path, LoadOptions(**options), cache_dir=tmp_path / "cache")


class TestCsv:
    def test_reads_the_original_csv_with_its_three_usages(self, tmp_path: Path) -> None:
        rows = [(3, pixels(), "Training"), (0, pixels(), "PublicTest"), (6, pixels(), "PrivateTest")]
        ds = load(write_csv(tmp_path / "fer2013.csv", rows), tmp_path)
        assert ds.class_names == FER2013_CLASSES
        assert ds.images.shape == (3, 48, 48)
        assert list(ds.splits) == ["train", "val", "test"]
        assert list(ds.labels) == [3, 0, 6]

    def test_a_row_with_the_wrong_pixel_count_names_the_line(self, tmp_path: Path) -> None:
        rows = [(3, pixels(), "Training"), (1, pixels(100), "Training")]
        with pytest.raises(DatasetError, match=r"line 3: 100 pixel values, expected 2304"):
            load(write_csv(tmp_path / "fer2013.csv", rows), tmp_path)

    def test_skip_bad_counts_and_reports_what_it_skipped(self, tmp_path: Path) -> None:
        rows = [(3, pixels(), "Training"), (1, pixels(100), "Training"), (9, pixels(), "PublicTest")]
        ds = load(write_csv(tmp_path / "fer2013.csv", rows), tmp_path, skip_bad=True)
        assert len(ds.labels) == 1
        assert len(ds.report.skipped) == 2
        assert any("skipped" in line for line in ds.report.lines())

    def test_missing_columns_are_named(self, tmp_path: Path) -> None:
        path = tmp_path / "x.csv"
        path.write_text("label,pixels\n1,2\n")
        with pytest.raises(DatasetError, match=r"lacks the columns \['Usage', 'emotion'\]"):
            load(path, tmp_path)


class TestImageFolders:
    def test_splits_test_by_file_name_prefix_and_takes_classes_from_folders(self, tmp_path: Path) -> None:
        ds = load(write_tree(tmp_path / "data"), tmp_path)
        assert ds.class_names == ("angry", "happy", "sad")
        assert ds.class_counts("train") == {"angry": 3, "happy": 3, "sad": 3}
        assert (ds.splits == "val").sum() == 9 and (ds.splits == "test").sum() == 9

    def test_jpg_and_a_six_class_set_with_ahegao(self, tmp_path: Path) -> None:
        classes = ("ahegao", "angry", "happy", "neutral", "sad", "surprise")
        ds = load(write_tree(tmp_path / "kaggle", classes, ext=".jpg"), tmp_path)
        assert ds.class_names == classes

    def test_a_tree_without_prefixes_holds_out_part_of_train_for_validation(self, tmp_path: Path) -> None:
        for split in ("train", "test"):
            for cls in ("a", "b"):
                (tmp_path / "d" / split / cls).mkdir(parents=True)
                for i in range(20):
                    cv2.imwrite(str(tmp_path / "d" / split / cls / f"{i}.png"), face())
        ds = load(tmp_path / "d", tmp_path)
        assert (ds.splits == "val").sum() == 4  # 10% of each class of train
        assert (ds.splits == "test").sum() == 40

    def test_class_subset_relabels_in_the_order_asked(self, tmp_path: Path) -> None:
        ds = load(write_tree(tmp_path / "data"), tmp_path).subset(["sad", "happy"])
        assert ds.class_names == ("sad", "happy")
        assert set(ds.labels) == {0, 1} and len(ds.labels) == 18

    def test_unknown_subset_class_lists_the_known_ones(self, tmp_path: Path) -> None:
        ds = load(write_tree(tmp_path / "data"), tmp_path)
        with pytest.raises(DatasetError, match=r"unknown classes \['joy'\].*angry, happy, sad"):
            ds.subset(["joy", "sad"])

    def test_non_48_images_are_resized_and_counted_or_rejected_by_flag(self, tmp_path: Path) -> None:
        root = write_tree(tmp_path / "data")
        cv2.imwrite(str(root / "train" / "sad" / "big.png"), face(96))
        ds = load(root, tmp_path)
        assert ds.report.resized == 1 and ds.images.shape[1:] == (48, 48)
        with pytest.raises(DatasetError, match=r"big.png: image is 96x96, expected 48x48"):
            load(root, tmp_path, strict_size=True)

    def test_a_corrupt_image_is_named_or_skipped_and_counted(self, tmp_path: Path) -> None:
        root = write_tree(tmp_path / "data")
        (root / "train" / "sad" / "broken.png").write_bytes(b"\x89PNG not really")
        with pytest.raises(DatasetError, match=r"broken.png: unreadable or corrupt image"):
            load(root, tmp_path)
        ds = load(root, tmp_path, skip_bad=True)
        assert ds.report.skipped == ["train/sad/broken.png: unreadable image"]

    def test_an_empty_class_folder_is_named(self, tmp_path: Path) -> None:
        root = write_tree(tmp_path / "data")
        (root / "train" / "fear").mkdir()
        (root / "train" / "fear" / "notes.txt").write_text("nothing here")
        with pytest.raises(DatasetError, match=r"class folders \['fear'\] in train/ hold no images"):
            load(root, tmp_path)

    def test_a_test_class_unknown_to_train_is_named(self, tmp_path: Path) -> None:
        root = write_tree(tmp_path / "data")
        (root / "test" / "joy").mkdir()
        cv2.imwrite(str(root / "test" / "joy" / "PublicTest_1.png"), face())
        with pytest.raises(DatasetError, match=r"test/ has class folders \['joy'\] that train/ does not have"):
            load(root, tmp_path)

    def test_missing_path_and_unknown_layout_say_what_is_expected(self, tmp_path: Path) -> None:
        with pytest.raises(DatasetError, match=r"data set not found: .*nowhere"):
            load(tmp_path / "nowhere", tmp_path)
        (tmp_path / "flat").mkdir()
        cv2.imwrite(str(tmp_path / "flat" / "a.png"), face())
        with pytest.raises(DatasetError, match=r"unknown layout .*no train/<class>/ folders"):
            load(tmp_path / "flat", tmp_path)
        (tmp_path / "data.parquet").write_bytes(b"x")
        with pytest.raises(DatasetError, match=r"unknown data set layout"):
            load(tmp_path / "data.parquet", tmp_path)


class TestArchives:
    @pytest.mark.parametrize("suffix", [".tar.gz", ".zip"])
    def test_reads_the_tree_inside_an_archive_as_the_folder_itself(self, tmp_path: Path, suffix: str) -> None:
        root = write_tree(tmp_path / "src" / "fer2013")
        archive = tmp_path / f"fer{suffix}"
        if suffix == ".zip":
            with zipfile.ZipFile(archive, "w") as zf:
                for f in root.rglob("*.png"):
                    zf.write(f, f.relative_to(tmp_path / "src"))
        else:
            with tarfile.open(archive, "w:gz") as tf:
                tf.add(root, arcname="fer2013")
        from_archive = load(archive, tmp_path)
        from_folder = load(root, tmp_path)
        assert from_archive.class_names == from_folder.class_names
        assert sorted(from_archive.images.reshape(len(from_archive.images), -1).sum(1).tolist()) == sorted(
            from_folder.images.reshape(len(from_folder.images), -1).sum(1).tolist()
        )

    def test_a_truncated_archive_is_named(self, tmp_path: Path) -> None:
        bad = tmp_path / "fer.tar.gz"
        bad.write_bytes(b"\x1f\x8b\x08garbage")
        with pytest.raises(DatasetError, match=r"fer.tar.gz: not a readable tar archive"):
            load(bad, tmp_path)


class TestCache:
    def test_second_load_comes_from_the_cache_and_a_changed_source_is_decoded_again(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "fer2013.csv", [(3, pixels(), "Training")])
        first = load(path, tmp_path)
        assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
        second = load(path, tmp_path)
        assert np.array_equal(first.images, second.images)
        write_csv(path, [(3, pixels(), "Training"), (4, pixels(), "PublicTest")])
        assert len(load(path, tmp_path).labels) == 2
        assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


@pytest.mark.shared
def test_the_shared_fer2013_archive_has_the_official_split_sizes(fer_archive: Path, cache_dir: Path) -> None:
    ds = load_dataset(fer_archive, cache_dir=cache_dir)
    assert ds.class_names == FER2013_CLASSES
    assert {s: int((ds.splits == s).sum()) for s in ("train", "val", "test")} == {
        "train": 28709,
        "val": 3589,
        "test": 3589,
    }
    assert ds.class_counts("train")["disgust"] == 436 and ds.class_counts("train")["happy"] == 7215
    assert len(list(cache_dir.glob("*.npz"))) == 1, "the decoded archive is cached by its checksum"
