"""Kubernetes resource quantities ("500m", "2", "8Gi"): parsed to exact numbers and written back (pure).

The config model checks quantities with it (a default request above its limit, a worker bigger than the quota);
the Kubernetes layer scales the team quota into the batch share with it.
"""

from __future__ import annotations

import re
from decimal import ROUND_FLOOR, Decimal

_QUANTITY = re.compile(r"^(?P<number>\d+(\.\d+)?|\.\d+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?\Z")
_SUFFIXES = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_MEBI = Decimal(2) ** 20


def parse(text: str) -> Decimal:
    """The value of a non-negative quantity, e.g. parse("500m") == 0.5, parse("1Gi") == 1073741824.

    Raises ValueError naming the accepted forms. Exponent forms ("1e3") are refused: nobody writes them in
    a team's config, and refusing them keeps the error message short.
    """
    match = _QUANTITY.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"'{text}' is not a Kubernetes quantity: a number with an optional suffix, e.g. '500m', '2', '8Gi'"
        )
    return Decimal(match["number"]) * _SUFFIXES[match["suffix"]]


def cpu(value: Decimal) -> str:
    """CPUs as Kubernetes writes them: whole cores as "4", anything else in millicores ("1500m"), floored."""
    millis = (value * 1000).to_integral_value(rounding=ROUND_FLOOR)
    return str(int(millis // 1000)) if millis % 1000 == 0 else f"{int(millis)}m"


def memory(value: Decimal) -> str:
    """Bytes as whole mebibytes ("6144Mi"), or whole gibibytes when exact ("8Gi"); floored."""
    mebibytes = int((value / _MEBI).to_integral_value(rounding=ROUND_FLOOR))
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"
