"""File names from encoder names: named encoders keep theirs; prefixed names become safe, readable, distinct."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from lit_extract.encoders import encoder_names
from lit_extract.store.file_stem import file_stem
from lit_extract.store.layout import file_templates, run_record_path
from lit_extract.store.manifest import manifest_path, split_file_names

SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def test_named_encoders_are_their_own_stems():
    for name in [*encoder_names(), "i3d_r50", "i3d_inception"]:
        assert file_stem(name) == name


def test_the_outputs_of_a_named_encoder_keep_their_names(tmp_path):
    assert split_file_names("r3d_18", "train")["embeddings"] == "emb_r3d_18_train.npy"
    assert split_file_names("r3d_18", "train")["done"] == "done_r3d_18_train.npy"
    assert manifest_path(tmp_path, "r3d_18").name == "manifest_r3d_18.json"
    assert run_record_path(tmp_path, "r3d_18").name == "run_r3d_18.json"


def test_prefixed_names_read_as_family_and_model_with_a_digest():
    stem = file_stem("timm:vit_base_patch16_clip_quickgelu_224.openai")
    assert re.fullmatch(r"timm-vit_base_patch16_clip_quickgelu_224\.openai-[0-9a-f]{8}", stem)
    assert re.fullmatch(r"hf-models-videomae-base-[0-9a-f]{8}", file_stem("hf:/models/videomae-base"))
    assert re.fullmatch(r"hf-MCG-NJU-videomae-base-[0-9a-f]{8}", file_stem("hf:MCG-NJU/videomae-base"))


def test_names_that_read_alike_get_different_stems():
    names = ["hf:/a/b", "hf:a/b", "hf:/a-b", "hf:a-b", "timm:a.b", "timm:a-b", "hf:/x/../a/b"]
    assert len({file_stem(name) for name in names}) == len(names)


def test_long_paths_keep_their_end_and_stay_short():
    stem = file_stem("hf:/" + "/".join(["deep"] * 60) + "/videomae-base-finetuned-kinetics")
    assert stem.startswith("hf-") and "videomae-base-finetuned-kinetics" in stem and len(stem) <= 80


@given(st.text(min_size=1, max_size=300))
def test_every_name_gives_one_safe_file_name_component(name):
    stem = file_stem(name)
    if re.fullmatch(r"[A-Za-z0-9_-]+", name):
        assert stem == name
    else:
        assert SAFE.fullmatch(stem) and len(stem) <= 80
    for template in file_templates(name, shared_labels=False).values():
        assert "/" not in template and ":" not in template and "\\" not in template
