"""The Analysis and its dataclasses (data.py); the domain rules, defined once (rules.py)."""
from analyzer.model.data import (  # noqa: F401
    Analysis, CONSUMED, CORE, CallGraph, Edge, FamilyMember,
    FilesInfo, KernelInfo, NOT_SPECIFIED, Node, Reason, SCHEMA,
    Site, Skipped, Subsystem, Summary,
)
from analyzer.model import rules  # noqa: F401,E402
