"""The ``nlmodels`` command line: fit, predict, explain, report, plot and edit models from CSV files.

Every command reads and writes plain files; models are the JSON files of ``model.to_json``.
Errors about the input (a missing file or column, an empty text) print one line naming the
problem and exit with status 2, without a traceback.
"""

from __future__ import annotations

import os
import sys

__all__ = ["build_parser", "main"]

from ._common import UsageError
from ._parser import build_parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "kind", None) == "explain" and not args.text:
        parser.error("plot explain needs the text to explain")
    if getattr(args, "top", None) is not None and args.top < 1:
        parser.error("--top must be at least 1")
    try:
        return args.func(args)
    except UsageError as error:
        print(f"nlmodels {args.command}: error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"nlmodels {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as error:  # bad input found by the estimators (they name the row)
        print(f"nlmodels {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a failure, not a usage problem: say what it was, without a traceback
        from ..llm import LLMError

        if isinstance(error, LLMError) or type(error).__module__.startswith("openai"):
            print(f"nlmodels {args.command}: chat model error: {error}", file=sys.stderr)
            return 1
        if os.environ.get("NLMODELS_DEBUG"):
            raise
        print(f"nlmodels {args.command}: {type(error).__name__}: {error} (set NLMODELS_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
