"""What this CPU offers int8 models, and which precision to open on it.

onnxruntime's dynamic int8 MatMuls multiply unsigned 8-bit activations by signed 8-bit weights (U8S8).
x86 CPUs with VNNI (AVX512-VNNI, AVX-VNNI) and ARM CPUs with the dot-product extension accumulate
those products straight into 32 bits, which makes int8 faster than fp32. x86 CPUs without VNNI
(AVX2, AVX-512 before Cascade Lake / Zen 4) go through VPMADDUBSW, which adds pairs of products into
16 bits: there int8 is about as fast as fp32, and full 8-bit weights could saturate (edgemask's int8
exports keep weights within 7 bits, so they stay exact there, see edgemask.export.precision).
"""

import platform
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import FrozenSet


@dataclass(frozen=True)
class CpuFeatures:
    arch: str  # "x86_64", "arm64", or what platform.machine() says
    flags: FrozenSet[str]  # the relevant ones, as Linux's /proc/cpuinfo names them

    @property
    def int8_dot(self) -> str:
        """The instruction set that accumulates int8 products in 32 bits, or "" when there is none."""
        for flag, name in (("avx512_vnni", "AVX512-VNNI"), ("avx_vnni", "AVX-VNNI"), ("asimddp", "ARM dot product")):
            if flag in self.flags:
                return name
        return ""

    def summary(self) -> str:
        """One line for `edgemask doctor`, e.g. "x86_64: AVX2 yes, AVX-512 yes, VNNI no"."""
        yes = lambda flag: "yes" if flag in self.flags else "no"  # noqa: E731
        if self.arch == "x86_64":
            vnni = "yes" if self.flags & {"avx512_vnni", "avx_vnni"} else "no"
            return f"x86_64: AVX2 {yes('avx2')}, AVX-512 {yes('avx512f')}, VNNI {vnni}"
        if self.arch == "arm64":
            return f"arm64: NEON {yes('asimd')}, dot product {yes('asimddp')}"
        return f"{self.arch}: features unknown"


RELEVANT = frozenset({"avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "asimd", "asimddp"})


def parse_cpuinfo(text: str, arch: str) -> CpuFeatures:
    """Features from the first `flags` (x86) or `Features` (ARM) line of Linux's /proc/cpuinfo."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return CpuFeatures(arch, frozenset(value.split()) & RELEVANT)
    return CpuFeatures(arch, frozenset())


def _normalise_arch(machine: str) -> str:
    machine = machine.lower()
    if machine in ("amd64", "x86_64"):
        return "x86_64"
    if machine in ("aarch64", "arm64"):
        return "arm64"
    return machine


def _macos_flags(arch: str) -> FrozenSet[str]:
    def sysctl(key: str) -> str:
        try:
            return subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    if arch == "arm64":  # every Apple silicon core has NEON and the dot product
        return frozenset({"asimd", "asimddp"} if sysctl("hw.optional.arm.FEAT_DotProd").strip() == "1" else {"asimd"})
    words = (sysctl("machdep.cpu.features") + " " + sysctl("machdep.cpu.leaf7_features")).lower().split()
    names = {"avx2": "avx2", "avx512f": "avx512f", "avx512bw": "avx512bw", "avx512vnni": "avx512_vnni"}
    return frozenset(names[w.replace(".", "")] for w in words if w.replace(".", "") in names)


@lru_cache(maxsize=1)
def detect() -> CpuFeatures:
    """This machine's CPU features (Linux and macOS; elsewhere no flags are known)."""
    arch = _normalise_arch(platform.machine())
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        try:
            return parse_cpuinfo(cpuinfo.read_text(errors="replace"), arch)
        except OSError:
            pass
    if platform.system() == "Darwin":
        return CpuFeatures(arch, _macos_flags(arch))
    return CpuFeatures(arch, frozenset())


def precision_order(gpu: bool, cpu: CpuFeatures) -> list:
    """Exported precisions from the one to open first to the last, for this machine.

    A GPU runs fp16 fastest. On a CPU, int8 comes first only where the CPU has a 32-bit int8 dot
    product (VNNI, ARM dot product); elsewhere int8 is not faster than fp32 (measured on AVX2 and
    AVX-512 without VNNI), so fp32 is opened and int8 is kept as a fallback.
    """
    if gpu:
        return ["fp16", "fp32", "int8"]
    if cpu.int8_dot:
        return ["int8", "fp32", "fp16"]
    return ["fp32", "int8", "fp16"]


def precision_reason(gpu: bool, cpu: CpuFeatures) -> str:
    """Why precision_order() puts its first precision first, in a few words."""
    if gpu:
        return "fp16: a GPU provider is available"
    if cpu.int8_dot:
        return f"int8: the CPU has {cpu.int8_dot}, so int8 MatMuls are faster than fp32"
    return "fp32: the CPU has no VNNI or ARM dot product, so int8 would not be faster"
