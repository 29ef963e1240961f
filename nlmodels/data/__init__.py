"""A small bundled dataset for examples that must run with no network."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["load_sms_spam_sample"]

_HERE = Path(__file__).parent


def load_sms_spam_sample() -> pd.DataFrame:
    """1,000 SMS messages labelled ``ham`` / ``spam`` (UCI SMS Spam Collection; see SOURCE.md here).

    Returns a DataFrame with columns ``text`` and ``label``.
    """
    return pd.read_csv(_HERE / "sms_spam_sample.csv")
