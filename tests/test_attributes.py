"""The side CSV of protected attributes: BOM, CRLF, bad rows rejected by line, images without a row listed."""

from __future__ import annotations

import pytest

from fairvision.data.attributes import parse_attribute_csv
from fairvision.errors import FairvisionError

IMAGES = ("a.jpg", "b.jpg", "c.jpg")


def test_values_per_image_with_bom_and_crlf() -> None:
    data = "\ufeffimage,race,age\r\na.jpg,East Asian,20-29\r\nb.jpg,<b>x</b>,30-39\r\n".encode()
    table = parse_attribute_csv(data, "attrs.csv", IMAGES)
    assert table.attributes == ("race", "age")
    assert table.values == {"a.jpg": {"race": "East Asian", "age": "20-29"},
                            "b.jpg": {"race": "<b>x</b>", "age": "30-39"}}
    assert table.missing == ("c.jpg",) and table.rejected == ()


def test_bad_rows_are_rejected_with_their_line() -> None:
    data = b"image,race\na.jpg,White,extra\nb.jpg,White\nb.jpg,Black\nz.jpg,White\nc.jpg,\n"
    table = parse_attribute_csv(data, "attrs.csv", IMAGES)
    assert table.values == {"b.jpg": {"race": "White"}}
    assert table.rejected == ((2, "a.jpg", "expected 2 fields, got 3"), (4, "b.jpg", "a second row for image 'b.jpg'"),
                              (5, "z.jpg", "no image 'z.jpg' in the dataset"), (6, "c.jpg", "empty value in field 2"))
    assert table.missing == ("a.jpg", "c.jpg")


@pytest.mark.parametrize("header", [b"file,race\n", b"image\n", b"image,race,race\n", b"image,,age\n", b""])
def test_bad_header_is_fatal_naming_the_file(header: bytes) -> None:
    with pytest.raises(FairvisionError, match="attrs.csv: header must be"):
        parse_attribute_csv(header, "attrs.csv", IMAGES)


def test_not_utf8_is_fatal() -> None:
    with pytest.raises(FairvisionError, match="attrs.csv: not UTF-8"):
        parse_attribute_csv(b"image,race\n\xff\xfe,x\n", "attrs.csv", IMAGES)
