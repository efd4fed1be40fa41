"""Judging a patch: two Analyses (before and after it) and the applied diff become typed
findings (model/findings.py). ``scope`` says which files count, ``context`` locates lines
in the patch, ``drops`` compares drop sites, ``reasons`` the reason catalogue,
``judge`` puts them together; ``results`` holds what a check returns.
"""
