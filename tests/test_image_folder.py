"""Image folders: labels from folder names, optional split folders, every other file a named rejection."""

from __future__ import annotations

from fairvision.data.image_folder import FolderImage, list_image_folder


def test_label_layout() -> None:
    listing = list_image_folder(["cat/1.jpg", "dog/2.PNG", "East Asian/3.jpeg"])
    assert not listing.has_splits
    assert listing.images == (FolderImage("East Asian/3.jpeg", "East Asian", None),
                              FolderImage("cat/1.jpg", "cat", None), FolderImage("dog/2.PNG", "dog", None))
    assert listing.labels == ("East Asian", "cat", "dog") and listing.rejected == ()


def test_split_layout_like_tfds_image_folder() -> None:
    listing = list_image_folder(["train/cat/1.jpg", "train/dog/2.jpg", "test/cat/3.jpg"])
    assert listing.has_splits
    assert [(i.split, i.label) for i in listing.images] == [("test", "cat"), ("train", "cat"), ("train", "dog")]


def test_everything_else_is_rejected_with_a_reason() -> None:
    listing = list_image_folder(["cat/1.jpg", "cat/notes.txt", "cat/.DS_Store", "loose.jpg", "cat/sub/2.jpg",
                                 ".hidden/3.jpg"])
    reasons = dict(listing.rejected)
    assert [i.key for i in listing.images] == ["cat/1.jpg"]
    assert reasons["cat/notes.txt"].startswith("not an image file")
    assert reasons["cat/.DS_Store"] == reasons[".hidden/3.jpg"] == "hidden file or folder"
    assert reasons["loose.jpg"] == reasons["cat/sub/2.jpg"] == "not at <label>/<image>"


def test_a_folder_not_named_like_a_split_means_no_split_layout() -> None:
    listing = list_image_folder(["train/cat/1.jpg", "cats/2.jpg"])
    assert not listing.has_splits
    assert dict(listing.rejected) == {"train/cat/1.jpg": "not at <label>/<image>"}
