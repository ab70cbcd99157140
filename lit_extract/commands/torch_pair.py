"""Do the installed torch and torchvision belong together? One line instead of a traceback.

pip installs a torch and a torchvision that were not built together without complaint (a CPU-only
torch from PyTorch's index beside a torchvision from PyPI, or two versions apart); the first sign
is then a long traceback ending ``operator torchvision::nms does not exist`` from deep inside
an encoder. Two checks turn that into one :class:`LitExtractError` line naming both versions and
the fix:

- :func:`check_installed_pair`: the installed versions against torchvision's own requirement on
  torch (package metadata only: instant; every command runs it at start-up);
- :func:`check_loaded_pair`: importing both (the commands that run models, right before they
  import them; the import is what they pay anyway).
"""

from __future__ import annotations

import re
from importlib import metadata

from lit_extract.errors import LitExtractError

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FIX = (f"reinstall the two together: pip install --force-reinstall torch torchvision --index-url {CPU_INDEX} "
       "on a CPU-only machine, the same without --index-url on a GPU machine (README: Quick start)")


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or ``None``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def required_torch(torchvision_requires: list[str]) -> str | None:
    """The requirement on torch among torchvision's ``Requires-Dist`` lines (``torch==2.5.1``), or ``None``."""
    for line in torchvision_requires:
        match = re.match(r"^torch\b\s*(?:\((?P<paren>[^)]*)\)|(?P<bare>[^;]*))", line)
        if match:
            spec = (match.group("paren") or match.group("bare") or "").strip()
            return spec or None
    return None


def mismatch(torch_version: str, torchvision_version: str, requirement: str | None) -> str | None:
    """Why ``torch_version`` does not satisfy torchvision's ``requirement`` (e.g. ``==2.5.1``), or ``None``.

    The local build tag (``+cpu``, ``+cu121``) is compared too when both versions carry one.
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        torch_public = Version(torch_version).public
        if requirement and not SpecifierSet(requirement).contains(torch_public, prereleases=True):
            return f"torchvision {torchvision_version} requires torch {requirement}"
        torch_local, vision_local = Version(torch_version).local, Version(torchvision_version).local
    except (InvalidSpecifier, InvalidVersion):
        return None  # versions of an unusual build: left to check_loaded_pair
    if torch_local and vision_local and torch_local != vision_local:
        return f"torch is a +{torch_local} build, torchvision a +{vision_local} build"
    return None


def check_installed_pair() -> None:
    """Raise :class:`LitExtractError` when the installed torch and torchvision do not belong together
    (by their package metadata; nothing is imported). Missing packages are left to the import."""
    torch_version, vision_version = installed_version("torch"), installed_version("torchvision")
    if torch_version is None or vision_version is None:
        return
    reason = mismatch(torch_version, vision_version, required_torch(metadata.requires("torchvision") or []))
    if reason is not None:
        raise LitExtractError(f"torch {torch_version} and torchvision {vision_version} do not belong together "
                              f"({reason}); {FIX}")


def check_loaded_pair() -> None:
    """Import torch and torchvision; raise :class:`LitExtractError` naming both versions and the fix
    when torchvision does not load against this torch (``operator torchvision::nms does not exist``)."""
    try:
        import torch  # noqa: F401
    except (ImportError, OSError) as exc:
        raise LitExtractError(f"torch {installed_version('torch')} does not load ({first_line(exc)}); {FIX}") from None
    try:
        import torchvision  # noqa: F401
    except (RuntimeError, ImportError, OSError) as exc:
        raise LitExtractError(
            f"torch {installed_version('torch')} and torchvision {installed_version('torchvision')} do not load "
            f"together ({first_line(exc)}); {FIX}"
        ) from None


def first_line(exc: BaseException) -> str:
    """The first non-empty line of ``exc``'s message (its type name when it has none)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
