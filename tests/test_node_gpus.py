"""Device discovery (``symphony.node.gpus``) and the device ledger's one promise.

NVML needs an NVIDIA driver and GPU, which test machines lack. The discovery tests
therefore pass a stand-in for the ``pynvml`` module, and only at that boundary: the
function under test is the real one, the fake is the library it calls. (A real GPU is
checked in ``test_gpus_real_device_job_sees_exactly_its_device``, skipped without
``nvidia-smi``.)
"""

from __future__ import annotations

import logging
import shutil
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symphony.node.gpus import GpuDevice, declared_devices, discover_devices, node_devices
from symphony.node.process.devices import DeviceLedger, NotEnoughDevices, device_env


class NVMLError(Exception):
    """As pynvml's base error."""


class FakeNVML:
    """The calls of ``pynvml`` that discovery makes, over a list of (uuid, name)."""

    def __init__(self, gpus: list[tuple[Any, Any]], *, fail_init: bool = False) -> None:
        self.gpus = gpus
        self.fail_init = fail_init
        self.fail_at: int | None = None
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        if self.fail_init:
            raise NVMLError("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index == self.fail_at:
            raise NVMLError("GPU is lost")
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> Any:
        return self.gpus[handle][0]

    def nvmlDeviceGetName(self, handle: int) -> Any:
        name = self.gpus[handle][1]
        if name is None:
            raise NVMLError("not supported")
        return name


def test_gpus_nvml_devices_are_named_by_uuid_in_nvml_order() -> None:
    nvml = FakeNVML([(b"GPU-aaaa-1", b"NVIDIA A100"), ("GPU-bbbb-2", None)])
    devices = discover_devices(nvml)
    assert devices == (
        GpuDevice(id="GPU-aaaa-1", index=0, uuid="GPU-aaaa-1", name="NVIDIA A100"),
        GpuDevice(id="GPU-bbbb-2", index=1, uuid="GPU-bbbb-2", name=None),
    )
    assert nvml.shutdowns == 1


def test_gpus_nvml_absent_or_failing_means_none_said_once(caplog) -> None:
    caplog.set_level(logging.INFO, logger="symphony.node.gpus")
    assert discover_devices(FakeNVML([], fail_init=True)) == ()
    broken = FakeNVML([("GPU-1", "x"), ("GPU-2", "y")])
    broken.fail_at = 1
    assert discover_devices(broken) == ()  # half a list would be worse than none
    assert broken.shutdowns == 1
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "no GPUs: NVML unavailable (NVMLError)"
    assert messages[1].startswith("no GPUs: NVML failed while listing them (NVMLError: GPU is lost")
    assert len(messages) == 2


def test_gpus_without_nvidia_ml_py_installed_means_none(monkeypatch, caplog) -> None:
    caplog.set_level(logging.INFO, logger="symphony.node.gpus")
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    assert discover_devices() == ()
    assert [r.getMessage() for r in caplog.records] == ["no GPUs: nvidia-ml-py is not installed"]


def test_gpus_declared_list_wins_and_asks_no_nvml() -> None:
    nvml = FakeNVML([("GPU-x", "x")], fail_init=True)
    assert node_devices(("2", "GPU-y"), nvml) == declared_devices(("2", "GPU-y"))
    assert [d.id for d in node_devices(("2", "GPU-y"), nvml)] == ["2", "GPU-y"]
    assert node_devices((), FakeNVML([("GPU-x", "x")])) == ()  # [] means none
    assert [d.id for d in node_devices(None, FakeNVML([("GPU-x", "x")]))] == ["GPU-x"]


def test_gpus_device_env() -> None:
    assert device_env(("GPU-a", "GPU-b"), node_has_devices=True) == {
        "CUDA_VISIBLE_DEVICES": "GPU-a,GPU-b",
        "NVIDIA_VISIBLE_DEVICES": "GPU-a,GPU-b",
    }
    assert device_env((), node_has_devices=True) == {
        "CUDA_VISIBLE_DEVICES": "",
        "NVIDIA_VISIBLE_DEVICES": "none",
    }
    assert device_env((), node_has_devices=False) == {}


# One step: ("take", instance, k) | ("release", instance) | ("hold", instance, devices)
_instances = st.sampled_from([f"i{n}" for n in range(6)])
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("take"), _instances, st.integers(0, 4)),
        st.tuples(st.just("release"), _instances),
        st.tuples(st.just("hold"), _instances, st.lists(st.sampled_from("012345x"), max_size=3)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps=_steps, size=st.integers(0, 6))
def test_gpus_ledger_never_gives_a_device_to_two_instances(steps, size: int) -> None:
    devices = tuple(str(n) for n in range(size))
    ledger = DeviceLedger(devices)
    model: dict[str, tuple[str, ...]] = {}
    for step in steps:
        if step[0] == "take":
            _, instance, k = step
            before = model.get(instance)
            try:
                got = ledger.take(instance, k)
            except NotEnoughDevices:
                held = {d for v in model.values() for d in v}
                free = [d for d in devices if d not in held]
                assert before is None and k > len(free)
                continue
            if before is not None:
                assert got == before  # an instance keeps what it holds
            else:
                assert len(got) == k and set(got) <= set(devices)
                if got:
                    model[instance] = got
        elif step[0] == "release":
            ledger.release(step[1])
            model.pop(step[1], None)
        else:
            _, instance, wanted = step
            got = ledger.hold(instance, list(dict.fromkeys(wanted)))
            if instance not in model and got:
                model[instance] = got
        held = [d for v in model.values() for d in v]
        assert len(held) == len(set(held)), model  # never shared
        assert {d: i for i, v in model.items() for d in v} == dict(ledger.holders())


@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="no nvidia-smi: no GPU here")
async def test_gpus_real_device_job_sees_exactly_its_device(tmp_path) -> None:
    """On a machine with a GPU: a job given one device sees that device and no other."""
    import subprocess

    from tests.jobs.harness import open_node, spec
    from tests.test_process_gpus import seen

    devices = discover_devices()
    if not devices:
        pytest.skip("nvidia-smi is present but NVML lists no GPU")
    out = tmp_path / "out"
    out.mkdir()
    script = (
        f'nvidia-smi --query-gpu=uuid --format=csv,noheader > "{out}/$SYMPHONY_INSTANCE"; '
        "exec sleep 1000"
    )
    async with open_node(str(tmp_path / "node"), gpus=tuple(d.id for d in devices)) as node:
        await node.start("one", spec(["sh", "-c", script]), gpus=1)
        lines = await seen(out, "one")
    visible = [line for (line, *_) in lines]
    assert visible == [devices[0].uuid]
    everything = subprocess.run(
        ["nvidia-smi", "--query-gpu=uuid", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert devices[0].uuid in everything
