"""Reading back what a printed model or report lists, for tests."""


def listed_entries(printed: str, intro: str) -> list[str]:
    """The entries of the block that ``intro`` opens in ``printed``: each entry's first line starts with
    two spaces, its wrapped lines with six; an entry is returned as one line (its pieces joined by the
    space the wrap broke at). None where the block is absent."""
    lines = printed.splitlines()
    if intro not in lines:
        return None
    entries = []
    for line in lines[lines.index(intro) + 1:]:
        if line.startswith("      ") and entries:
            entries[-1] += " " + line.strip()
        elif line.startswith("  ") and not line.startswith("   "):
            entries.append(line)
        else:
            break
    return entries
