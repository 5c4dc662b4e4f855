"""What the reviewer and CI read: ``report.json`` (canonical), ``report.md``, ``report.html``,
``junit.xml``, the executed notebook page, interview questions and the batch leaderboard.

- :mod:`~harness.reports.assembly` — a finished job → :class:`~harness.models.GradeReport`;
- :mod:`~harness.reports.write` — report.json / report.md / the terminal, written atomically;
- :mod:`~harness.reports.html`, :mod:`~harness.reports.svg`, :mod:`~harness.reports.gateway`,
  :mod:`~harness.reports.notebook` — the HTML page, its charts, gateway section, notebook page;
- :mod:`~harness.reports.metrics_html` (classifier), :mod:`~harness.reports.rag_html` and
  :mod:`~harness.reports.rag_stats` (RAG) — the page's metrics sections;
- :mod:`~harness.reports.junit` — JUnit XML;
- :mod:`~harness.reports.interview`, :mod:`~harness.reports.interview_rag` — interview questions
  from the evidence, one question bank per assignment kind (:mod:`~harness.reports.question`:
  the question they share);
- :mod:`~harness.reports.leaderboard` — batch summary.csv / summary.html / round.json.
"""
