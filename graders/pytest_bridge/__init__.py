"""The bridge between the hidden tests and the candidate's code: two processes, two uids.

The hidden tests run in a pytest process that never imports candidate code (the runner uid);
the candidate's code is imported by a server process of its own (the candidate uid). They
talk across a Unix socket, as data: JSON plus numpy arrays without pickle, pandas objects as
columns, and handles for objects that cannot cross (an estimator, a function).

- :mod:`.codec`: the frames and the values on the wire, with size limits (both sides);
- :mod:`.server`: the candidate's side (imports the submission, answers calls);
- :mod:`.client`: the tests' side (``candidate.module("predict").build_model()``);
- :mod:`.fixtures`: the ``candidate`` pytest fixture the driver registers.

Mounted read-only next to ``pytest_driver.py`` in the sandbox; ``docs/authoring.md`` says how
to write hidden tests against it. Imports only the standard library and numpy (pandas when a
pandas object crosses), so it runs in the image's Python as it is.
"""
