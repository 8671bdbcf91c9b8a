"""The domain's values and their limits: money in minor units, "not sent", text bounds."""

from __future__ import annotations

from decimal import Decimal
from typing import Final


class Omitted:
    """A field that was not sent (as opposed to an explicit null)."""

    _instance: Omitted | None = None

    def __new__(cls) -> Omitted:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMITTED"

    def __bool__(self) -> bool:
        return False


OMITTED: Final = Omitted()

MAX_AMOUNT_CENTS: Final = 999_999_999  # 9999999.99
MAX_TITLE_LENGTH: Final = 200
MAX_MESSAGE_LENGTH: Final = 5000
MAX_KEY_LENGTH: Final = 255
DEFAULT_CURRENCY: Final = "USD"
# Files of one submission (each at most MAX_UPLOAD_BYTES, a setting).
MAX_ATTACHMENTS: Final = 10
CENT: Final = Decimal("0.01")


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)
