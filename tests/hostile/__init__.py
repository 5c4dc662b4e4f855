"""The hostile-submission catalogue: each case a submission built in the test and the outcome
it must get, every case checked against the same invariants (see ``catalogue.py``)."""
