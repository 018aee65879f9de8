"""The IR: op table, graph facade, elaboration from the AST, verification."""

from incept_dsl.ir.graph import Graph, Head

__all__ = ["Graph", "Head"]
