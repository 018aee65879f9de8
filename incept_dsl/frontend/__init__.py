"""Frontend: `.incept` text -> lark parse tree -> AST (frozen dataclasses with spans)."""

from incept_dsl.frontend.parser import parse, parse_expr

__all__ = ["parse", "parse_expr"]
