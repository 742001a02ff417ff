"""Thin Typer commands: parse options -> pydantic config -> one pipeline call -> rich summary."""
