"""Building the sandbox images: from a registry base, or offline from a Debian root fs (mmdebstrap)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from sandboxes.base import SandboxError

IMAGES_DIR = Path(__file__).parent
DEFAULT_IMAGE = "grpo-sandbox-python:latest"
#: Debian's stable release: its python3 (3.13) runs the code verifier's jobs ~6% cheaper than
#: bookworm's 3.11 (benchmarks/RESULTS.md, issue 9)
DEFAULT_SUITE = "trixie"


def offline_base(suite: str) -> str:
    """The tag a suite's imported root fs gets (the base the Dockerfile's layers go on)."""
    return f"grpo-sandbox-base:{suite}"


OFFLINE_BASE = offline_base(DEFAULT_SUITE)
#: Debian packages in the offline root fs (python3 pulls the full standard library)
BASE_PACKAGES = ("python3", "passwd")
CPP_PACKAGES = ("g++",)

Log = Callable[[str], None]


def dockerfile_dir(language: str = "python") -> Path:
    path = IMAGES_DIR / language
    if not (path / "Dockerfile").is_file():
        raise SandboxError(f"no sandbox image definition for {language!r} under {IMAGES_DIR}")
    return path


def build_rootfs(
    output: Path,
    *,
    suite: str = DEFAULT_SUITE,
    mirror: str | None = None,
    packages: tuple[str, ...] = BASE_PACKAGES,
    log: Log = print,
) -> Path:
    """A minimal Debian root filesystem tarball made by ``mmdebstrap`` (needs no image registry)."""
    if shutil.which("mmdebstrap") is None:
        raise SandboxError("offline build needs `mmdebstrap` (apt-get install mmdebstrap)")
    argv = [
        "mmdebstrap",
        "--variant=minbase",
        f"--include={','.join(packages)}",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/info/*",
        "--aptopt=Acquire::Retries=3",
        suite,
        str(output),
    ]
    if mirror:
        argv.append(mirror)
    log("$ " + " ".join(argv))
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SandboxError(f"mmdebstrap failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return output


def _client():
    try:
        import docker  # the SDK is imported only here, never by grpo_core
    except ImportError as exc:
        raise SandboxError("the Docker SDK is missing: pip install 'grpo-core[docker]'") from exc
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:
        raise SandboxError(f"no Docker engine reachable ({type(exc).__name__}: {exc})") from exc
    return client


def dockerfile_digest(language: str = "python") -> str:
    """sha256 of the image definition; stored as a label so stale images can be spotted."""
    return hashlib.sha256((dockerfile_dir(language) / "Dockerfile").read_bytes()).hexdigest()


#: sha256 of the Dockerfile; an offline image adds "+SUITE", and "+cpp" when it has g++
DIGEST_LABEL = "org.grpo.sandbox.dockerfile-sha256"


def _build_layers(
    client, base: str, tag: str, language: str, log: Log, pull: bool, flavour: str = ""
) -> None:
    import docker

    try:
        _, logs = client.images.build(
            path=str(dockerfile_dir(language)),
            tag=tag,
            buildargs={"BASE": base},
            labels={DIGEST_LABEL: dockerfile_digest(language) + flavour},
            network_mode="none",
            rm=True,
            forcerm=True,
            pull=pull,
        )
    except docker.errors.BuildError as exc:
        tail = "".join(str(item.get("stream", item.get("error", ""))) for item in exc.build_log)[-3000:]
        raise SandboxError(f"image build failed: {exc}\n{tail}") from exc
    except docker.errors.APIError as exc:
        raise SandboxError(f"image build failed: {exc}") from exc
    for item in logs:
        line = str(item.get("stream", "")).rstrip()
        if line:
            log(line)


def build_image(
    *,
    tag: str = DEFAULT_IMAGE,
    offline: bool = False,
    base: str | None = None,
    suite: str = DEFAULT_SUITE,
    mirror: str | None = None,
    with_cpp: bool = False,
    rootfs: Path | None = None,
    log: Log = print,
) -> str:
    """Build the sandbox image and return its tag.

    Online: ``FROM python:3.12-slim`` (or ``base``) pulled from a registry.
    Offline: ``mmdebstrap`` makes a Debian root fs, ``docker import`` turns it into a base image, and
    the same Dockerfile's layers go on top (the build itself runs without network).
    """
    client = _client()
    if not offline:
        _build_layers(client, base or "python:3.12-slim", tag, "python", log, pull=True)
        return tag
    base = base or offline_base(suite)
    packages = BASE_PACKAGES + (CPP_PACKAGES if with_cpp else ())
    with tempfile.TemporaryDirectory(prefix="grpo-rootfs-") as tmp:
        tarball = rootfs or build_rootfs(
            Path(tmp) / "rootfs.tar", suite=suite, mirror=mirror, packages=packages, log=log
        )
        log(f"importing {tarball} as {base}")
        repository, _, image_tag = base.rpartition(":")
        client.api.import_image_from_file(
            str(tarball),
            repository=repository or base,
            tag=image_tag or "latest",
            changes=['CMD ["python3"]', "ENV LANG=C.UTF-8"],
        )
    flavour = f"+{suite}" + ("+cpp" if with_cpp else "")
    _build_layers(client, base, tag, "python", log, pull=False, flavour=flavour)
    return tag


def image_present(tag: str = DEFAULT_IMAGE) -> bool:
    try:
        client = _client()
        client.images.get(tag)
        return True
    except Exception:
        return False


__all__ = [
    "BASE_PACKAGES",
    "DEFAULT_IMAGE",
    "OFFLINE_BASE",
    "build_image",
    "build_rootfs",
    "dockerfile_dir",
    "image_present",
]
