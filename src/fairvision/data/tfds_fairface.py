"""FairFace as a TensorFlow Datasets builder, for people who live in TFDS.

FairFace cannot be downloaded automatically (its images sit behind a form), so this is a
manual-download builder: the user places the label CSVs and the image zip in the manual
folder, and ``tfds build`` (or ``download_and_prepare``) reads them. Validation is
``prepare``'s own (``validate_source`` and ``stored_images``), so the examples are exactly
the images ``prepare`` would shard, with the same ids and bytes; rejected rows are logged
with their reason, as in ``prepare``.

    from fairvision.data.tfds_fairface import Fairface
    builder = Fairface(config="padding025")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir="~/fairface"))
    train = builder.as_dataset(split="train")

The `tfds build src/fairvision/data/tfds_fairface.py --manual_dir ... --config padding025`
command line works the same way, but TFDS's CLI imports apache-beam, which fairvision does
not install (`pip install apache-beam` first).
"""

from __future__ import annotations

from typing import Iterator

import tensorflow_datasets as tfds

from fairvision.data.fairface import LABEL_CSVS, fairface_source, zip_name
from fairvision.data.prepare import stored_images, validate_source
from fairvision.data.storage import open_root
from fairvision.params import ATTRIBUTE_VALUES, MAX_IMAGE_BYTES

PADDINGS = {"padding025": 0.25, "padding125": 1.25}
MAX_IMAGE_PIXELS = 40_000_000  # prepare's default (params.yaml `prepare.max_image_pixels`)


class Fairface(tfds.core.GeneratorBasedBuilder):
    """FairFace (Kärkkäinen & Joo, 2021): face crops labelled with race, gender and age."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: the published label CSVs and image zips, validated as prepare does."}
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=name, description=f"crops with padding {padding}")
                       for name, padding in PADDINGS.items()]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download FairFace from https://github.com/joojs/fairface (the label CSVs and the image zip for "
        f"your padding) and place {', '.join(LABEL_CSVS.values())} and {zip_name(0.25)} (config padding025) "
        f"or {zip_name(1.25)} (config padding125) in the manual folder (`--manual_dir`)."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "id": tfds.features.Text(),
                "image": tfds.features.Image(),
                **{attribute: tfds.features.ClassLabel(names=list(values))
                   for attribute, values in ATTRIBUTE_VALUES.items()},
            }),
            homepage="https://github.com/joojs/fairface",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        location = str(dl_manager.manual_dir)
        # FairFace's val is its held-out test set; keep TFDS's usual split names for the published ones.
        return {"train": self._generate_examples(location, "train"),
                "validation": self._generate_examples(location, "test")}

    def _generate_examples(self, location: str, split: str) -> Iterator[tuple[str, dict]]:
        padding = PADDINGS[self.builder_config.name]
        with fairface_source(open_root(location), padding, target="gender") as source:
            checked = validate_source(source, MAX_IMAGE_PIXELS, max_bytes=MAX_IMAGE_BYTES)
            rows = [row for row in checked.rows if row["split"] == split]
            images = stored_images(source, checked.accepted, [row["id"] for row in rows], [0] * len(rows),
                                   max_bytes=MAX_IMAGE_BYTES)
            for row, (record_id, data, _) in zip(rows, images):
                yield record_id, {"id": record_id, "image": data,
                                  **{attribute: row[attribute] for attribute in ATTRIBUTE_VALUES}}
