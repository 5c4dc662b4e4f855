"""The panel: reviewers' levels for the human criteria as data, how far reviewers agree
(Krippendorff's alpha), and how alike a round's submissions are (winnowing fingerprints).

Library functions; ``harness.panel.cli`` is the thin command-line skin over them.
"""
