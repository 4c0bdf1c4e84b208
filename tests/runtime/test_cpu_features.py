"""CPU features that decide int8 vs fp32, read from /proc/cpuinfo as Linux writes it."""

import json
import logging
import shutil

import pytest

from edgemask.runtime import cpu_features
from edgemask.runtime.cpu_features import CpuFeatures, parse_cpuinfo, precision_order

# first lines of /proc/cpuinfo on three kinds of machine (trimmed flag lists)
ZEN3_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni
"""
ICELAKE_VNNI = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8375C
flags\t\t: fpu sse2 avx avx2 avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bitalg
"""
SKYLAKE_AVX512 = "flags\t\t: sse2 avx avx2 avx512f avx512dq avx512bw avx512vl\n"
ORIN_A78AE = """processor\t: 0
BogoMIPS\t: 62.50
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp uscat
CPU implementer\t: 0x41
"""
CORTEX_A57 = "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\n"


@pytest.mark.parametrize("text,arch,dot,first", [
    (ZEN3_AVX2, "x86_64", "", "fp32"),
    (SKYLAKE_AVX512, "x86_64", "", "fp32"),
    (ICELAKE_VNNI, "x86_64", "AVX512-VNNI", "int8"),
    ("flags : avx2 avx_vnni\n", "x86_64", "AVX-VNNI", "int8"),
    (ORIN_A78AE, "arm64", "ARM dot product", "int8"),
    (CORTEX_A57, "arm64", "", "fp32"),
    ("", "x86_64", "", "fp32"),
])
def test_int8_first_only_with_a_32_bit_int8_dot_product(text, arch, dot, first):
    cpu = parse_cpuinfo(text, arch)
    assert cpu.int8_dot == dot
    assert precision_order(gpu=False, cpu=cpu)[0] == first
    assert precision_order(gpu=True, cpu=cpu)[0] == "fp16"
    assert sorted(precision_order(gpu=False, cpu=cpu)) == ["fp16", "fp32", "int8"]


def test_summary_names_what_matters():
    assert parse_cpuinfo(SKYLAKE_AVX512, "x86_64").summary() == "x86_64: AVX2 yes, AVX-512 yes, VNNI no"
    assert parse_cpuinfo(ORIN_A78AE, "arm64").summary() == "arm64: NEON yes, dot product yes"


def test_this_machine_is_detected():
    cpu = cpu_features.detect()
    assert cpu.arch and cpu.summary()
    if cpu.arch == "x86_64" and open("/proc/cpuinfo").read().count(" avx2"):
        assert "avx2" in cpu.flags


def test_doctor_shows_cpu_features_and_the_precision_it_opens(tiny_model, tmp_path, monkeypatch, capsys):
    from edgemask.cli import main

    monkeypatch.setenv("EDGEMASK_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cpu_features, "detect", lambda: parse_cpuinfo(ZEN3_AVX2, "x86_64"))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "features: x86_64: AVX2 yes, AVX-512 no, VNNI no" in out
    assert "precision opened by default: fp32" in out
    assert main(["doctor", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["precision"]["order"][0] == "fp32" and info["cpu"]["int8_dot_product"] is None


@pytest.mark.parametrize("cpu,recorded,warns", [
    (ZEN3_AVX2, False, True),  # an int8 folder from before 7-bit weights, on a CPU where it saturates
    (ZEN3_AVX2, True, False),
    (ICELAKE_VNNI, False, False),
])
def test_old_int8_folder_warns_where_it_saturates(tiny_model, tmp_path, monkeypatch, caplog, cpu, recorded, warns):
    from edgemask.runtime import Predictor

    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["precision"] = "int8"
    if recorded:
        meta["quantization"] = {"weight_range": [-64, 64]}
    (folder / "model.json").write_text(json.dumps(meta))
    monkeypatch.setattr(cpu_features, "detect", lambda: parse_cpuinfo(cpu, "x86_64"))
    with caplog.at_level(logging.WARNING, logger="edgemask.runtime"):
        Predictor(folder, device="cpu", cache=False)
    assert ("8-bit weights" in caplog.text) == warns
