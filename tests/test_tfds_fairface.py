"""The TFDS builder yields exactly what `prepare` shards: same ids, attributes and image bytes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import tensorflow_datasets as tfds

from fairvision.data.shards import read_records, shard_paths
from fairvision.data.tfds_fairface import Fairface
from test_prepare import run_prepare


def test_builder_examples_equal_prepares_records(small_fairface: Path, tmp_path: Path) -> None:
    builder = Fairface(config="padding025", data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(small_fairface)))
    run_prepare(small_fairface, tmp_path / "prepared", val_fraction=0.0)
    manifest = pd.read_parquet(tmp_path / "prepared/manifest.parquet").set_index("id")
    features = builder.info.features

    for tfds_split, our_split in (("train", "train"), ("validation", "test")):
        ours = {r["id"].numpy().decode(): r["image"].numpy()
                for r in read_records(shard_paths(tmp_path / "prepared/shards", our_split))}
        theirs = {}
        skip_decoding = {"image": tfds.decode.SkipDecoding()}
        for example in tfds.as_numpy(builder.as_dataset(split=tfds_split, decoders=skip_decoding)):
            record_id = example["id"].decode()
            theirs[record_id] = example["image"]
            for attribute in ("race", "gender", "age"):
                assert features[attribute].int2str(example[attribute]) == manifest.loc[record_id, attribute]
        assert theirs == ours and len(ours) == (manifest["split"] == our_split).sum()
