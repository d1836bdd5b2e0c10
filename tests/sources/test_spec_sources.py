"""The spec's sources: the first seed's example is valid verbatim (with a real URL), and
every field refuses what a node must not be asked to fetch or run."""

from __future__ import annotations

import pytest

from symphony.spec import SpecError, parse_spec
from symphony.wire import job_spec_from_dict

# The first seed's "Example deployment spec", verbatim but for the URL.
SEED_EXAMPLE = {
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "kind": "exec",
    "config": {
        "image": "http://example.org/image.zip",
        "env_name": "conda-env1",
        "command": ["python3", "/home/../main.py"],
        "env": {"LOG_LEVEL": "info"},
    },
    "restart_policy": {"type": "on-failure", "backoff_seconds": 10},
}


def errors(config: dict[str, object]) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        parse_spec({**SEED_EXAMPLE, "config": {**SEED_EXAMPLE["config"], **config}})  # type: ignore[dict-item]
    return {e["path"]: e["message"] for e in caught.value.errors}


def test_spec_seed_example_is_valid_and_reaches_the_node_typed() -> None:
    spec = parse_spec(SEED_EXAMPLE)
    assert spec.config.image == "http://example.org/image.zip"
    assert spec.config.env_name == "conda-env1"
    job = job_spec_from_dict(spec.to_dict())
    assert job.config.image == spec.config.image and job.config.env_name == "conda-env1"
    assert job.config.needs_sources


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"image": "ftp://example.org/a.zip"}, "config.image"),
        ({"image": "file://host/a.zip"}, "config.image"),
        ({"image": "http:///a.zip"}, "config.image"),
        ({"image": "http://example.org/a b.zip"}, "config.image"),
        ({"image": "http://example.org/a.zip\n"}, "config.image"),
        ({"image": "upload:abc"}, "config.image"),
        ({"sha256": "a" * 63}, "config.sha256"),
        ({"sha256": "a" * 64 + "\n"}, "config.sha256"),
        ({"env_name": "-rm"}, "config.env_name"),
        ({"env_name": "conda-env1\n"}, "config.env_name"),
        ({"env_name": "../x"}, "config.env_name"),
        ({"git": {"repo": "ssh://h/r.git"}}, "config.git.repo"),
        ({"git": {"repo": "file:///r.git", "ref": "--upload-pack=x"}}, "config.git.ref"),
        ({"git": {"repo": "file:///r.git", "ref": "a..b"}}, "config.git.ref"),
        ({"git": {"repo": "file:///r.git", "commit": "abc"}}, "config.git.commit"),
    ],
)
def test_spec_sources_refuse_what_a_node_must_not_fetch(
    config: dict[str, object], path: str
) -> None:
    assert path in errors(config)


def test_spec_sources_rules_between_fields() -> None:
    both = errors({"git": {"repo": "file:///r.git"}})
    assert "give one source of code" in both["config"]
    no_image = {**SEED_EXAMPLE, "config": {"command": ["x"], "sha256": "a" * 64}}
    with pytest.raises(SpecError, match="give the image too"):
        parse_spec(no_image)
    outside = {"command": ["x"], "image": "http://example.org/a.zip", "cwd": "../up"}
    with pytest.raises(SpecError, match=r"no '\.\.'"):
        parse_spec({"config": outside})
    assert parse_spec({"config": {**outside, "cwd": "src"}}).config.cwd == "src"
    digest = parse_spec(
        {"config": {"command": ["x"], "image": "file:///a.zip", "sha256": "AB" * 32}}
    )
    assert digest.config.sha256 == "ab" * 32  # written in either case, kept in one
