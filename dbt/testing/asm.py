"""Assemble A64 snippets with the real cross toolchain (binutils-aarch64-linux-gnu)."""
import os
import shutil
import subprocess
import tempfile

AS = "aarch64-linux-gnu-as"
OBJCOPY = "aarch64-linux-gnu-objcopy"


def available() -> bool:
    return shutil.which(AS) is not None and shutil.which(OBJCOPY) is not None


def assemble(source: str) -> bytes:
    """Raw little-endian code for the assembly text (position-independent snippets)."""
    with tempfile.TemporaryDirectory() as d:
        src, obj, raw = (os.path.join(d, n) for n in ("a.s", "a.o", "a.bin"))
        with open(src, "w") as f:
            f.write(".text\n" + source + "\n")
        subprocess.run([AS, "-o", obj, src], check=True, capture_output=True)
        subprocess.run([OBJCOPY, "-O", "binary", "-j", ".text", obj, raw], check=True,
                       capture_output=True)
        with open(raw, "rb") as f:
            return f.read()
