"""A small seccomp filter for bubblewrap's ``--seccomp FD``: no process of a job may trace another
or use the kernel's keyrings.

Without it a program could ``ptrace`` another process of the sandbox (same uid; the runner, PID 1,
is also not dumpable) and make it exit, turning its own wrong answer into an infrastructure error.
The filter (classic BPF, built here so no libseccomp is needed) fails ``ptrace``,
``process_vm_readv/writev`` and ``pidfd_getfd`` with EPERM, and every syscall made through a foreign
ABI (i386 or x32 on x86-64), which would bypass the numbers.
``add_key``, ``request_key`` and ``keyctl`` fail too (as under Docker's default profile): a key left
in the user or session keyring would outlive the job and reach the next one in the same sandbox.
"""

from __future__ import annotations

import platform
import struct

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
#: ptrace, process_vm_readv, process_vm_writev, pidfd_getfd, add_key, request_key, keyctl
BLOCKED = {"x86_64": (101, 310, 311, 438, 248, 249, 250), "aarch64": (117, 270, 271, 438, 217, 218, 219)}
X32_BIT = 0x40000000

LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_EPERM = 0x00050000 | 1


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def supported() -> bool:
    return platform.machine() in AUDIT_ARCH


def filter_program(machine: str | None = None) -> bytes:
    """The BPF program (an array of ``struct sock_filter``) for this machine's architecture."""
    machine = machine or platform.machine()
    if machine not in AUDIT_ARCH:
        raise ValueError(f"no seccomp filter for {machine}")
    blocked = BLOCKED[machine]
    body: list[tuple[int, int, int, int]] = []
    # [0] arch check: a foreign ABI is refused outright
    body.append((LD_W_ABS, 0, 0, 4))
    body.append((JEQ_K, 1, 0, AUDIT_ARCH[machine]))
    body.append((RET_K, 0, 0, RET_EPERM))
    body.append((LD_W_ABS, 0, 0, 0))
    if machine == "x86_64":
        body.append((JGE_K, 0, 1, X32_BIT))
        body.append((RET_K, 0, 0, RET_EPERM))
    for index, number in enumerate(blocked):
        # jump to the EPERM return at the end when equal
        to_deny = len(blocked) - index
        body.append((JEQ_K, to_deny, 0, number))
    body.append((RET_K, 0, 0, RET_ALLOW))
    body.append((RET_K, 0, 0, RET_EPERM))
    return b"".join(_insn(*insn) for insn in body)
