"""A synthetic bank modelled on a Shanxi city commercial bank (``kequn synth``)."""

from kequn.synth.bank import EXTRACT_FILE, MANIFEST_FILE, SynthOptions, SynthResult, synthesize

__all__ = ["EXTRACT_FILE", "MANIFEST_FILE", "SynthOptions", "SynthResult", "synthesize"]
