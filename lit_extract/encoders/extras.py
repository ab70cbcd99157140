"""Optional libraries of encoder families (``timm``, ``transformers``): imported when a family
needs them, refused in one line naming the extra to install when absent."""

from __future__ import annotations

import importlib
from types import ModuleType

from lit_extract.errors import LitExtractError


def require(module: str, extra: str, encoder: str) -> ModuleType:
    """``import module``, or raise :class:`LitExtractError` naming ``encoder`` and the install command
    of lit_extract's optional dependency ``extra``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise LitExtractError(
            f"encoder {encoder} needs the {module} package ({exc}); install it with: pip install 'lit_extract[{extra}]'"
        ) from exc
